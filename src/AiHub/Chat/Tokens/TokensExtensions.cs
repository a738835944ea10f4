namespace AiHub.Chat.Tokens;

internal static class TokensExtensions
{
    public static void AddTokens(IHostApplicationBuilder builder) => builder.Services.AddSingleton<TokenCounter>();
}
