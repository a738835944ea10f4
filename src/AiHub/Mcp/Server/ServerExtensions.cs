using AiHub.Identity;
using AiHub.Infrastructure.Configuration;
using AiHub.Mcp.Server.Prompts;
using AiHub.Mcp.Server.Resources;
using AiHub.Mcp.Server.Tools;
using AiHub.Organizations;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using ModelContextProtocol.AspNetCore;

namespace AiHub.Mcp.Server;

internal static class ServerExtensions
{
    public const string Path = "/mcp";

    /// <summary>The policy of <c>/mcp</c>: a bearer API key or OAuth access token, never the browser's cookie.</summary>
    public const string Policy = "mcp";

    public static void AddServer(IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddHttpContextAccessor();
        services.AddSettings<McpServerSettings>(McpServerSettings.Section);
        services.AddScoped<McpCallers>();
        services.AddScoped<McpActivity>();
        services.AddSingleton<IMcpCallerSource, ApiKeyCallerSource>();
        services.AddScoped<KnowledgeScope>();
        services.AddScoped<SourceTexts>();
        services.AddScoped<SourceResources>();
        services.AddScoped<WorkspacePrompts>();
        services.AddAuthorizationBuilder().AddPolicy(Policy, policy => policy
            .AddAuthenticationSchemes(OAuth.McpOAuthExtensions.BearerScheme)
            .RequireAuthenticatedUser());
        services.AddMcpServer(options => options.ServerInfo = new() { Name = "AiHub", Version = typeof(ServerExtensions).Assembly.GetName().Version?.ToString() ?? "1.0" })
            // Stateless: every request stands alone, so any node can answer it and nothing is kept between calls.
            .WithHttpTransport(options => options.SessionMode = HttpServerSessionMode.Stateless)
            .WithRequestFilters(McpActivity.AddFilters)
            .WithTools<WorkspaceTools>(McpJson.Options)
            .WithTools<KnowledgeTools>(McpJson.Options)
            .WithTools<ChatTools>(McpJson.Options)
            .WithListResourcesHandler(SourceResources.ListAsync)
            .WithListResourceTemplatesHandler(SourceResources.TemplatesAsync)
            .WithReadResourceHandler(SourceResources.ReadAsync)
            .WithListPromptsHandler(WorkspacePrompts.ListAsync)
            .WithGetPromptHandler(WorkspacePrompts.GetAsync);
    }

    public static void MapServer(IEndpointRouteBuilder app)
    {
        var limit = app.ServiceProvider.GetRequiredService<IOptions<McpServerSettings>>().Value.MaxRequestBytes;
        app.MapMcp(Path)
            .RequireAuthorization(Policy)
            .WithMetadata(ApiKeysAllowedMetadata.Instance, new RequestSizeLimitAttribute(limit))
            .WithTags("MCP");
    }
}
