using AiHub.Data;
using AiHub.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AiHub.Organizations;

/// <summary>A tenant. Every row it owns carries its id; a deleted one is kept 30 days, then purged.</summary>
internal sealed class Organization
{
    public Guid Id { get; init; }

    public required string Name { get; set; }

    /// <summary>The org made for a user at sign-up; it cannot be left or transferred away.</summary>
    public bool IsPersonal { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset? DeletedAt { get; set; }
}

internal enum OrgRole
{
    Guest,
    Member,
    Manager,
    Admin,
    Owner,
}

internal sealed class Membership
{
    public Guid OrganizationId { get; init; }

    public Guid UserId { get; init; }

    public OrgRole Role { get; set; }

    public DateTimeOffset JoinedAt { get; init; }
}

internal sealed class Workspace : ITenantOwned
{
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    public required string Name { get; set; }

    public string? Description { get; set; }

    public string? SystemPrompt { get; set; }

    public string? DefaultModel { get; set; }

    public DateTimeOffset CreatedAt { get; init; }
}

internal sealed class Team : ITenantOwned
{
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    public required string Name { get; set; }

    public DateTimeOffset CreatedAt { get; init; }
}

internal sealed class TeamMember : ITenantOwned
{
    public Guid TeamId { get; init; }

    public Guid OrganizationId { get; init; }

    public Guid UserId { get; init; }

    /// <summary>A Manager manages the teams they lead, and only those.</summary>
    public bool IsLead { get; set; }
}

internal sealed class Invitation : ITenantOwned
{
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    public required string Email { get; init; }

    public required string NormalizedEmail { get; init; }

    public OrgRole Role { get; init; }

    public required string TokenHash { get; init; }

    public Guid InvitedBy { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset ExpiresAt { get; init; }

    public DateTimeOffset? AcceptedAt { get; set; }

    public DateTimeOffset? DeclinedAt { get; set; }

    public DateTimeOffset? RevokedAt { get; set; }

    public bool IsOpen(DateTimeOffset now) => AcceptedAt is null && DeclinedAt is null && RevokedAt is null && ExpiresAt > now;
}

internal sealed class OrganizationModelConfiguration :
    IEntityTypeConfiguration<Organization>,
    IEntityTypeConfiguration<Membership>,
    IEntityTypeConfiguration<Workspace>,
    IEntityTypeConfiguration<Team>,
    IEntityTypeConfiguration<TeamMember>,
    IEntityTypeConfiguration<Invitation>
{
    public void Configure(EntityTypeBuilder<Organization> builder)
    {
        builder.ToTable("organizations");
        builder.Property(o => o.Name).HasMaxLength(100);
        builder.HasIndex(o => o.DeletedAt);
    }

    public void Configure(EntityTypeBuilder<Membership> builder)
    {
        builder.ToTable("memberships");
        builder.HasKey(m => new { m.OrganizationId, m.UserId });
        builder.Property(m => m.Role).HasConversion<string>().HasMaxLength(16);
        builder.HasIndex(m => m.UserId);
        builder.HasOne<Organization>().WithMany().HasForeignKey(m => m.OrganizationId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<AppUser>().WithMany().HasForeignKey(m => m.UserId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<Workspace> builder)
    {
        builder.ToTable("workspaces");
        builder.Property(w => w.Name).HasMaxLength(100);
        builder.Property(w => w.Description).HasMaxLength(1000);
        builder.Property(w => w.SystemPrompt).HasMaxLength(20_000);
        builder.Property(w => w.DefaultModel).HasMaxLength(200);
        builder.HasIndex(w => new { w.OrganizationId, w.Name }).IsUnique();
        builder.HasOne<Organization>().WithMany().HasForeignKey(w => w.OrganizationId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<Team> builder)
    {
        builder.ToTable("teams");
        builder.Property(t => t.Name).HasMaxLength(100);
        builder.HasIndex(t => new { t.OrganizationId, t.Name }).IsUnique();
        builder.HasOne<Organization>().WithMany().HasForeignKey(t => t.OrganizationId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<TeamMember> builder)
    {
        builder.ToTable("team_members");
        builder.HasKey(m => new { m.TeamId, m.UserId });
        builder.HasIndex(m => new { m.OrganizationId, m.UserId });
        builder.HasOne<Team>().WithMany().HasForeignKey(m => m.TeamId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<Membership>().WithMany().HasForeignKey(m => new { m.OrganizationId, m.UserId }).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<Invitation> builder)
    {
        builder.ToTable("invitations");
        builder.Property(i => i.Email).HasMaxLength(256);
        builder.Property(i => i.NormalizedEmail).HasMaxLength(256);
        builder.Property(i => i.Role).HasConversion<string>().HasMaxLength(16);
        builder.Property(i => i.TokenHash).HasMaxLength(64);
        builder.HasIndex(i => i.TokenHash).IsUnique();
        builder.HasIndex(i => new { i.OrganizationId, i.NormalizedEmail });
        builder.HasOne<Organization>().WithMany().HasForeignKey(i => i.OrganizationId).OnDelete(DeleteBehavior.Cascade);
    }
}
