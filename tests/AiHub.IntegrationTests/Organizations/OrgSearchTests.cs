using AiHub.IntegrationTests.Support;
using AiHub.Organizations;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Organizations;

/// <summary>The administrators' search for an organisation to move to a plan: by name, by owner's email or by id, in the database.</summary>
public abstract class OrgSearchTests(IdentityHost host)
{
    [Fact]
    public async Task An_org_is_found_by_part_of_its_name_its_owners_email_or_its_id_in_any_letter_case()
    {
        using var client = host.Client();
        var marker = Guid.NewGuid().ToString("N")[..10];
        var email = NewEmail("Owner" + marker);
        var owner = await host.NewUserAsync(client, email);
        var personal = await PersonalOrgAsync(client, owner);
        var named = await CreateOrgAsync(client, owner, $"Zebra {marker} Labs");
        var deleted = await CreateOrgAsync(client, owner, $"Gone {marker}");
        await SendAsync(client, owner, HttpMethod.Delete, $"/api/orgs/{deleted}", expected: System.Net.HttpStatusCode.NoContent);

        var byName = await SearchAsync($"ZEBRA {marker.ToUpperInvariant()}");
        var byOwner = await SearchAsync("owner" + marker);
        var byId = await SearchAsync(personal.ToString());
        var none = await SearchAsync("   ");
        var wildcard = await SearchAsync("%");

        Assert.Equal([named], byName.Select(o => o.Id));
        Assert.Equal(email, byName[0].OwnerEmail, ignoreCase: true);
        Assert.Equal(new[] { personal, named }.Order(), byOwner.Select(o => o.Id).Order());
        Assert.DoesNotContain(byOwner, o => o.Id == deleted);
        Assert.True(Assert.Single(byId).Personal);
        Assert.Empty(none);
        // A LIKE wildcard is a character to find, not a pattern that matches every org.
        Assert.DoesNotContain(wildcard, o => o.Id == named);
    }

    [Fact]
    public async Task The_results_are_limited()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var marker = Guid.NewGuid().ToString("N")[..10];
        for (var i = 0; i < 4; i++)
            await CreateOrgAsync(client, owner, $"Many {marker} {i}");

        var found = await SearchAsync(marker, limit: 3);

        Assert.Equal(3, found.Count);
    }

    async Task<List<OrgSearchResult>> SearchAsync(string query, int limit = 10)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<Orgs>().SearchAllAsync(query, limit, CancellationToken.None);
    }
}

public sealed class OrgSearchOnSqlite(SqliteIdentityFixture fixture) : OrgSearchTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class OrgSearchOnPostgres(PostgresIdentityFixture fixture) : OrgSearchTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
