using System.Linq.Expressions;
using AiHub.Identity;
using AiHub.Infrastructure.Audit;
using AiHub.Infrastructure.Jobs;
using AiHub.Organizations;
using AiHub.Organizations.ApiKeys;
using Microsoft.AspNetCore.DataProtection.EntityFrameworkCore;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace AiHub.Data;

/// <summary>The one database of AiHub. Each provider has a subclass so that each keeps its own migrations.</summary>
internal abstract class AppDbContext(DbContextOptions options)
    : IdentityDbContext<AppUser, AppRole, Guid>(options), IDataProtectionKeyContext
{
    public DbSet<WorkItem> WorkItems => Set<WorkItem>();

    public DbSet<DataProtectionKey> DataProtectionKeys => Set<DataProtectionKey>();

    public DbSet<AuditEvent> AuditEvents => Set<AuditEvent>();

    // These three stay: the foreign key names the migrations recorded were derived from their set names.
    public DbSet<Organization> Organizations => Set<Organization>();

    public DbSet<Workspace> Workspaces => Set<Workspace>();

    public DbSet<ApiKey> ApiKeys => Set<ApiKey>();

    /// <summary>
    /// The organisation of the current request, set when an org route is authorised. Queries of tenant-owned rows are
    /// filtered by it as a second fence; the first is that every fetch names its <c>(orgId, id)</c>.
    /// </summary>
    public Guid? TenantId { get; set; }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        base.OnModelCreating(modelBuilder);
        modelBuilder.Entity<IdentityUserRole<Guid>>().ToTable("user_roles");
        modelBuilder.Entity<IdentityUserClaim<Guid>>().ToTable("user_claims");
        modelBuilder.Entity<IdentityUserLogin<Guid>>().ToTable("user_logins");
        modelBuilder.Entity<IdentityUserToken<Guid>>().ToTable("user_tokens");
        modelBuilder.Entity<IdentityRoleClaim<Guid>>().ToTable("role_claims");
        modelBuilder.ApplyConfigurationsFromAssembly(typeof(AppDbContext).Assembly);
        foreach (var entity in modelBuilder.Model.GetEntityTypes().Where(e => typeof(ITenantOwned).IsAssignableFrom(e.ClrType)).ToList())
            modelBuilder.Entity(entity.ClrType).HasQueryFilter(TenantFilter(entity.ClrType));
    }

    /// <summary><c>row => TenantId == null || row.OrganizationId == TenantId</c>, with TenantId read from this context at each query.</summary>
    LambdaExpression TenantFilter(Type rowType)
    {
        var row = Expression.Parameter(rowType, "row");
        var tenant = Expression.Property(Expression.Constant(this, typeof(AppDbContext)), nameof(TenantId));
        var organization = Expression.Convert(Expression.Property(row, nameof(ITenantOwned.OrganizationId)), typeof(Guid?));
        return Expression.Lambda(
            Expression.OrElse(Expression.Equal(tenant, Expression.Constant(null, typeof(Guid?))), Expression.Equal(organization, tenant)), row);
    }

    public override Task<int> SaveChangesAsync(bool acceptAllChangesOnSuccess, CancellationToken cancellationToken = default)
    {
        RefuseAuditRewrites();
        return base.SaveChangesAsync(acceptAllChangesOnSuccess, cancellationToken);
    }

    public override int SaveChanges(bool acceptAllChangesOnSuccess)
    {
        RefuseAuditRewrites();
        return base.SaveChanges(acceptAllChangesOnSuccess);
    }

    void RefuseAuditRewrites()
    {
        if (ChangeTracker.Entries<AuditEvent>().Any(e => e.State is EntityState.Modified or EntityState.Deleted))
            throw new InvalidOperationException("audit_events is append-only: an audit event cannot be changed or deleted.");
    }
}

internal sealed class SqliteAppDbContext(DbContextOptions<SqliteAppDbContext> options) : AppDbContext(options)
{
    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // SQLite stores DateTimeOffset as text, which cannot be compared or ordered in SQL; a sortable integer can.
        configurationBuilder.Properties<DateTimeOffset>().HaveConversion<DateTimeOffsetToBinaryConverter>();
        configurationBuilder.Properties<DateTimeOffset?>().HaveConversion<DateTimeOffsetToBinaryConverter>();
    }
}

internal sealed class PostgresAppDbContext(DbContextOptions<PostgresAppDbContext> options) : AppDbContext(options)
{
    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.HasPostgresExtension("vector");
        base.OnModelCreating(modelBuilder);
        foreach (var configuration in typeof(AppDbContext).Assembly.GetTypes()
                     .Where(t => typeof(IPostgresModelConfiguration).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false }))
            ((IPostgresModelConfiguration)Activator.CreateInstance(configuration)!).ConfigurePostgres(modelBuilder);
    }
}
