using Microsoft.EntityFrameworkCore;

namespace AiHub.Data;

/// <summary>A row that belongs to one organisation.</summary>
/// <remarks>
/// <see cref="AppDbContext"/> filters every entity that implements this by the current tenant, the second fence of
/// tenancy; the first is that every fetch names its <c>(orgId, id)</c>. A table with an <c>OrganizationId</c> that is
/// read across organisations says so in the tenancy test instead.
/// </remarks>
internal interface ITenantOwned
{
    Guid OrganizationId { get; }
}

/// <summary>Model settings that only PostgreSQL has (full-text indexes); each feature declares its own.</summary>
internal interface IPostgresModelConfiguration
{
    void ConfigurePostgres(ModelBuilder modelBuilder);
}
