using AiHub.Chat.Grounding;
using AiHub.Chat.Tools;
using AiHub.Infrastructure.Configuration;
using AiHub.Knowledge.Insights;

namespace AiHub.Knowledge.Grounding;

internal static class GroundingExtensions
{
    /// <summary>Grounds chat in the knowledge through Chat's own interfaces, since Chat, a layer below, cannot name the knowledge.</summary>
    public static void AddGrounding(IHostApplicationBuilder builder)
    {
        builder.Services.AddSettings<GroundingSettings>(GroundingSettings.Section);
        builder.Services.AddScoped<KnowledgeGrounding>();
        builder.Services.AddScoped<IChatGrounding>(sp => sp.GetRequiredService<KnowledgeGrounding>());
        builder.Services.AddScoped<IKnowledgeBaseCheck>(sp => sp.GetRequiredService<KnowledgeGrounding>());
        builder.Services.AddSingleton<QuestionLog>();
        builder.Services.AddChatTool<SearchKnowledgeTool>();
    }
}
