using AiHub.Data;
using AiHub.Identity;
using AiHub.Organizations.ApiKeys;
using AiHub.Infrastructure.Jobs;
using Hangfire;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Organizations;

public static class OrganizationsExtensions
{
    /// <summary>Organisations, membership and roles, invitations, workspaces, teams and API keys; the tenancy fence on org routes.</summary>
    public static IHostApplicationBuilder AddOrganizations(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton<OrgAccess>();
        services.AddSingleton<IAuthorizationHandler, OrgPermissionHandler>();
        services.AddSingleton<IAuthorizationHandler, ApiKeyEndpointGuard>();
        services.AddSingleton<ApiKeyLookup>();
        services.AddSingleton<KeyTokenLimits>();
        services.AddAuthentication().AddScheme<AuthenticationSchemeOptions, ApiKeyAuthentication>(IdentityExtensions.ApiKeyScheme, "Organisation API key", null);
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, OrgAuthorizationResultHandler>();
        services.AddAuthorizationBuilder().AddOrgPolicies();
        services.Configure<Microsoft.AspNetCore.OpenApi.OpenApiOptions>(Infrastructure.OpenApi.ApiDocument.Name, options => options.AddApiKeySecurity());
        services.AddScoped<Orgs>();
        services.AddScoped<Invitations>();
        services.AddScoped<Workspaces>();
        services.AddScoped<OrgApiKeys>();
        services.AddScoped<IUserCredentials>(sp => sp.GetRequiredService<OrgApiKeys>());
        services.AddScoped<Teams>();
        services.AddScoped<CurrentOrg>();
        services.AddScoped<IAccountEvents>(sp => sp.GetRequiredService<Orgs>());
        services.AddScoped<OrgPurge>();
        services.AddRecurringJob<OrgPurge>("org-purge", purge => purge.PurgeAsync(CancellationToken.None), Cron.Daily());
        return builder;
    }

    public static IEndpointRouteBuilder MapOrganizationEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapOrgEndpoints();
        app.MapInvitationEndpoints();
        app.MapWorkspaceEndpoints();
        app.MapTeamEndpoints();
        app.MapApiKeyEndpoints();
        return app;
    }

    static AuthorizationBuilder AddOrgPolicies(this AuthorizationBuilder authorization)
    {
        foreach (var permission in OrgPermissions.All)
            authorization.AddPolicy(permission, policy => policy.RequireAuthenticatedUser().AddRequirements(new OrgPermissionRequirement(permission)));
        return authorization;
    }
}

/// <summary>Deleted organisations stay restorable for 30 days; then this removes them and, by cascade, everything they own.</summary>
internal sealed partial class OrgPurge(AppDbContext db, TimeProvider clock, ILogger<OrgPurge> logger)
{
    public async Task<int> PurgeAsync(CancellationToken ct)
    {
        var cutoff = clock.GetUtcNow() - Orgs.RestoreWindow;
        var purged = await db.Organizations.Where(o => o.DeletedAt != null && o.DeletedAt < cutoff).ExecuteDeleteAsync(ct);
        if (purged > 0)
            LogPurged(purged);
        return purged;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Purged {Count} organisation(s) deleted more than 30 days ago")]
    partial void LogPurged(int count);
}
