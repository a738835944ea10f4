using System.Security.Claims;
using AiHub.Chat.Engine;
using AiHub.Credits.Usage;
using AiHub.Identity;
using AiHub.Infrastructure.Configuration;
using AiHub.Organizations;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Options;

namespace AiHub.Chat.Providers;

internal static class ProviderExtensions
{
    public static void AddProviders(IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSettings<ChatSettings>(ChatSettings.Section);
        // A list, not an object: bound by hand, validated like every settings class before the node serves anything.
        services.AddSingleton(new SettingsRegistration.RegisteredSettings(typeof(ProvidersSettings), ProvidersSettings.Section));
        services.AddSingleton<IValidateOptions<ProvidersSettings>, ProvidersSettingsValidator>();
        services.AddOptions<ProvidersSettings>()
            .Configure<IConfiguration>((o, configuration) => configuration.GetSection(ProvidersSettings.Section).Bind(o.Items))
            .ValidateOnStart();
        services.AddOptions<SettingsPrices>().Configure<IOptions<ProvidersSettings>>((prices, providers) => ProvidersSettingsValidator.Fill(prices, providers.Value));

        services.AddHttpClient();
        services.AddSingleton<ProviderHttpClients>();
        services.AddSingleton<IConfigureOptions<HttpClientFactoryOptions>>(sp => sp.GetRequiredService<ProviderHttpClients>());
        services.AddSingleton<ChatClients>();
        services.AddSingleton<DeploymentProviders>();
        services.AddScoped<ProviderDirectory>();
        services.AddScoped<ModelCatalog>();
        services.AddScoped<IDefaultModelCheck>(sp => sp.GetRequiredService<ModelCatalog>());
        services.AddScoped<OrgProviders>();
        services.AddScoped<IModelRouter, ModelRouter>();
    }

    public static void MapProviderRoutes(IEndpointRouteBuilder app)
    {
        var org = OrgEndpoints.Org(app).WithTags("Providers");
        org.MapGet("/providers", List).WithSummary("Lists the organisation's own AI providers (their keys are never returned).").RequireAuthorization(OrgPermissions.ChatUse);
        org.MapPost("/providers", Create).WithSummary("Adds an AI provider with the organisation's own key.").RequireAuthorization(OrgPermissions.OrgManage).RequireUser();
        org.MapPatch("/providers/{id:guid}", Update).WithSummary("Changes an organisation provider; a new URL drops the stored key.").RequireAuthorization(OrgPermissions.OrgManage).RequireUser();
        org.MapDelete("/providers/{id:guid}", Delete).WithSummary("Removes an organisation provider.").RequireAuthorization(OrgPermissions.OrgManage).RequireUser();
        org.MapGet("/models", Models).WithSummary("Lists the models members can chat with, with their prices and capabilities.").RequireAuthorization(OrgPermissions.ChatUse);

        var admin = AdminApi.Group(app, "/models", Permissions.ProvidersManage);
        admin.MapGet("", AdminList).WithSummary("Lists every model of the configured providers with its settings.");
        // The model id may itself hold a '/', as some OpenAI-compatible servers name theirs.
        admin.MapPut("/{provider}/{**model}", AdminSet).WithSummary("Sets a model's display name, context length, capabilities and the plans it is disabled for.");
    }

    static async Task<Ok<List<OrgProviderResponse>>> List(Guid orgId, HttpContext http, OrgProviders providers, CancellationToken ct) =>
        TypedResults.Ok(await providers.ListAsync(http.Grant(), ct));

    static async Task<Created<OrgProviderResponse>> Create(Guid orgId, OrgProviderRequest body, HttpContext http, ClaimsPrincipal user, OrgProviders providers, CancellationToken ct)
    {
        var created = await providers.CreateAsync(http.Grant(), user.UserId()!.Value, body, ct);
        return TypedResults.Created($"/api/orgs/{orgId}/providers/{created.Id}", created);
    }

    static async Task<Ok<OrgProviderResponse>> Update(Guid orgId, Guid id, OrgProviderRequest body, HttpContext http, ClaimsPrincipal user, OrgProviders providers, CancellationToken ct) =>
        TypedResults.Ok(await providers.UpdateAsync(http.Grant(), user.UserId()!.Value, id, body, ct));

    static async Task<NoContent> Delete(Guid orgId, Guid id, HttpContext http, ClaimsPrincipal user, OrgProviders providers, CancellationToken ct)
    {
        await providers.DeleteAsync(http.Grant(), user.UserId()!.Value, id, ct);
        return TypedResults.NoContent();
    }

    static async Task<Ok<List<ModelResponse>>> Models(Guid orgId, ModelCatalog catalog, CancellationToken ct) =>
        TypedResults.Ok(await catalog.ListForOrgAsync(orgId, ct));

    static async Task<Ok<List<AdminModelResponse>>> AdminList(ModelCatalog catalog, CancellationToken ct) =>
        TypedResults.Ok(await catalog.ListForAdminAsync(ct));

    static async Task<Ok<AdminModelResponse>> AdminSet(string provider, string model, ModelSettingRequest body, ClaimsPrincipal user, ModelCatalog catalog, CancellationToken ct) =>
        TypedResults.Ok(await catalog.SetAsync(provider, model, body, user.UserId()!.Value, ct));
}
