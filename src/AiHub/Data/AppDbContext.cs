using AiHub.Admin;
using AiHub.Chat.Conversations;
using AiHub.Identity;
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

    public DbSet<RolePermission> RolePermissions => Set<RolePermission>();

    public DbSet<UserSession> UserSessions => Set<UserSession>();

    public DbSet<RefreshToken> RefreshTokens => Set<RefreshToken>();

    public DbSet<SigningKey> SigningKeys => Set<SigningKey>();

    public DbSet<AuditEvent> AuditEvents => Set<AuditEvent>();

    public DbSet<Organization> Organizations => Set<Organization>();

    public DbSet<Membership> Memberships => Set<Membership>();

    public DbSet<Workspace> Workspaces => Set<Workspace>();

    public DbSet<Team> Teams => Set<Team>();

    public DbSet<TeamMember> TeamMembers => Set<TeamMember>();

    public DbSet<Invitation> Invitations => Set<Invitation>();

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
        modelBuilder.Entity<Workspace>().HasQueryFilter(e => TenantId == null || e.OrganizationId == TenantId);
        modelBuilder.Entity<Team>().HasQueryFilter(e => TenantId == null || e.OrganizationId == TenantId);
        modelBuilder.Entity<TeamMember>().HasQueryFilter(e => TenantId == null || e.OrganizationId == TenantId);
        modelBuilder.Entity<Invitation>().HasQueryFilter(e => TenantId == null || e.OrganizationId == TenantId);
        modelBuilder.Entity<ApiKey>().HasQueryFilter(e => TenantId == null || e.OrganizationId == TenantId);
        modelBuilder.Entity<Chat.Providers.OrgProvider>().HasQueryFilter(e => TenantId == null || e.OrganizationId == TenantId);
        modelBuilder.Entity<Conversation>().HasQueryFilter(e => TenantId == null || e.OrganizationId == TenantId);
        modelBuilder.Entity<StoredMessage>().HasQueryFilter(e => TenantId == null || e.OrganizationId == TenantId);
        modelBuilder.Entity<OrgSystemPrompt>().HasQueryFilter(e => TenantId == null || e.OrganizationId == TenantId);
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
        ConversationModelConfiguration.ConfigurePostgres(modelBuilder);
    }
}
