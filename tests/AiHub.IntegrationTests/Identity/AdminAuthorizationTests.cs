using AiHub.Identity;
using AiHub.IntegrationTests.Support;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.IntegrationTests.Identity;

/// <summary>Every endpoint of the admin API asks for an admin permission, so a new one cannot forget it.</summary>
public sealed class AdminAuthorizationTests(SqliteIdentityFixture fixture) : IClassFixture<SqliteIdentityFixture>
{
    // What every signed-up user holds does not make anyone an admin.
    static readonly string[] AdminPermissions = [.. Permissions.All.Except(Permissions.ByRole[Roles.User])];

    [Fact]
    public void Every_endpoint_under_the_admin_api_requires_an_admin_permission()
    {
        var endpoints = fixture.Host.App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => ("/" + e.RoutePattern.RawText?.TrimStart('/')).StartsWith(AdminApi.Prefix + "/", StringComparison.OrdinalIgnoreCase))
            .ToList();

        // A floor on the count: a prefix or route change that hid the admin API from this test would fail it.
        Assert.True(endpoints.Count >= 20, $"only {endpoints.Count} admin endpoints were found");
        Assert.All(endpoints, endpoint =>
        {
            Assert.Null(endpoint.Metadata.GetMetadata<IAllowAnonymous>());
            Assert.Contains(endpoint.Metadata.GetOrderedMetadata<IAuthorizeData>(), a => a.Policy is { } policy && AdminPermissions.Contains(policy));
        });
    }
}
