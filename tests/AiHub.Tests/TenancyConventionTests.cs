using AiHub.Credits;
using AiHub.Data;
using AiHub.Infrastructure.Audit;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;

namespace AiHub.Tests;

/// <summary>
/// The second fence of tenancy is a convention: every table with an <c>OrganizationId</c> is filtered by the current
/// tenant, unless it is named here as read across organisations, with the reason.
/// </summary>
public sealed class TenancyConventionTests
{
    static readonly Dictionary<Type, string> Global = new()
    {
        [typeof(CreditAccount)] = "An account may be a person's, paying in any org; the ledger reads accounts by id, and the org is null for personal ones.",
        [typeof(AuditEvent)] = "The instance's audit log: admins read it across orgs, and an org's activity is read by its org id.",
        [typeof(LedgerHold)] = "Money history: a hold outlives its org (a purge unnames it), the ledger locks it by id, and every other read names the org.",
        [typeof(Membership)] = "The first fence is built on it: a person's orgs and personal org are found across orgs.",
    };

    static IModel Model()
    {
        using var db = new SqliteAppDbContext(new DbContextOptionsBuilder<SqliteAppDbContext>().UseSqlite("Data Source=:memory:").Options);
        return db.Model;
    }

    static List<IEntityType> WithOrganization() =>
        [.. Model().GetEntityTypes().Where(e => e.FindProperty(nameof(ITenantOwned.OrganizationId)) is not null)];

    [Fact]
    public void Every_table_with_an_organization_is_tenant_owned_or_declared_global()
    {
        var forgotten = WithOrganization()
            .Where(e => !typeof(ITenantOwned).IsAssignableFrom(e.ClrType) && !Global.ContainsKey(e.ClrType))
            .Select(e => e.ClrType.FullName)
            .ToList();

        Assert.True(forgotten.Count == 0, "Implement ITenantOwned, or declare the table global with the reason: " + string.Join(", ", forgotten));
    }

    [Fact]
    public void Every_tenant_owned_table_is_filtered_by_the_tenant()
    {
        var unfiltered = Model().GetEntityTypes()
            .Where(e => typeof(ITenantOwned).IsAssignableFrom(e.ClrType) && e.GetDeclaredQueryFilters().Count == 0)
            .Select(e => e.ClrType.FullName)
            .ToList();

        Assert.Empty(unfiltered);
    }

    [Fact]
    public void Credits_tenant_owned_tables_are_fenced()
    {
        var credits = Model().GetEntityTypes()
            .Where(e => e.ClrType.Namespace?.StartsWith("AiHub.Credits", StringComparison.Ordinal) == true && e.FindProperty(nameof(ITenantOwned.OrganizationId)) is not null)
            .Where(e => !Global.ContainsKey(e.ClrType))
            .ToList();

        Assert.NotEmpty(credits);
        Assert.All(credits, e => Assert.NotEmpty(e.GetDeclaredQueryFilters()));
    }

    [Fact]
    public void Tables_declared_global_still_have_an_organization()
    {
        var tables = WithOrganization().Select(e => e.ClrType).ToHashSet();

        Assert.All(Global.Keys, t => Assert.Contains(t, tables));
    }
}
