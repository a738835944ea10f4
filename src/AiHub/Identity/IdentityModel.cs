using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AiHub.Identity;

internal sealed class AppUser : IdentityUser<Guid>
{
    public string? DisplayName { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>The authenticator time step of the last code accepted; a code of that step or earlier is refused, so none works twice.</summary>
    public long? LastTotpStep { get; set; }
}

internal sealed class AppRole : IdentityRole<Guid>
{
    /// <summary>Higher outranks lower: nobody can grant, or take away, a role above their own.</summary>
    public int Rank { get; set; }
}

/// <summary>One row per permission a platform role carries; seeded by a migration from <see cref="Permissions.ByRole"/>.</summary>
internal sealed class RolePermission
{
    public Guid RoleId { get; init; }

    public required string Permission { get; init; }
}

internal enum SessionKind
{
    Api,
    Browser,
}

/// <summary>One signed-in device: a browser cookie or an API client's chain of refresh tokens (its family).</summary>
internal sealed class UserSession
{
    public Guid Id { get; init; }

    public Guid UserId { get; init; }

    public SessionKind Kind { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset LastSeenAt { get; set; }

    public DateTimeOffset ExpiresAt { get; set; }

    public string? IpAddress { get; init; }

    public string? UserAgent { get; init; }

    public DateTimeOffset? RevokedAt { get; set; }

    public string? RevokedReason { get; set; }

    public bool IsActive(DateTimeOffset now) => RevokedAt is null && ExpiresAt > now;
}

/// <summary>An opaque refresh token, stored only as its SHA-256; each use replaces it with the next of its session.</summary>
internal sealed class RefreshToken
{
    public Guid Id { get; init; }

    public Guid SessionId { get; init; }

    public Guid UserId { get; init; }

    public required string TokenHash { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset ExpiresAt { get; init; }

    /// <summary>Set once the token has been exchanged; a second exchange is a replay.</summary>
    public DateTimeOffset? UsedAt { get; set; }

    public DateTimeOffset? RevokedAt { get; set; }
}

/// <summary>Key material that every node must share (the JWT signing key), protected with Data Protection.</summary>
internal sealed class SigningKey
{
    public required string Id { get; init; }

    public required string ProtectedKey { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
}

internal sealed class IdentityModelConfiguration :
    IEntityTypeConfiguration<AppUser>,
    IEntityTypeConfiguration<AppRole>,
    IEntityTypeConfiguration<RolePermission>,
    IEntityTypeConfiguration<UserSession>,
    IEntityTypeConfiguration<RefreshToken>,
    IEntityTypeConfiguration<SigningKey>
{
    public void Configure(EntityTypeBuilder<AppUser> builder)
    {
        builder.ToTable("users");
        builder.Property(u => u.DisplayName).HasMaxLength(100);
    }

    public void Configure(EntityTypeBuilder<AppRole> builder)
    {
        builder.ToTable("roles");
        builder.HasData(Roles.All.Select(r => new AppRole
        {
            Id = r.Id,
            Name = r.Name,
            NormalizedName = r.Name.ToUpperInvariant(),
            ConcurrencyStamp = r.Id.ToString(),
            Rank = r.Rank,
        }));
    }

    public void Configure(EntityTypeBuilder<RolePermission> builder)
    {
        builder.ToTable("role_permissions");
        builder.HasKey(p => new { p.RoleId, p.Permission });
        builder.Property(p => p.Permission).HasMaxLength(64);
        builder.HasOne<AppRole>().WithMany().HasForeignKey(p => p.RoleId).OnDelete(DeleteBehavior.Cascade);
        builder.HasData(Permissions.ByRole.SelectMany(pair =>
            pair.Value.Select(permission => new RolePermission { RoleId = Roles.Named(pair.Key).Id, Permission = permission })));
    }

    public void Configure(EntityTypeBuilder<UserSession> builder)
    {
        builder.ToTable("user_sessions");
        builder.Property(s => s.Kind).HasConversion<string>().HasMaxLength(16);
        builder.Property(s => s.IpAddress).HasMaxLength(64);
        builder.Property(s => s.UserAgent).HasMaxLength(512);
        builder.Property(s => s.RevokedReason).HasMaxLength(64);
        builder.HasOne<AppUser>().WithMany().HasForeignKey(s => s.UserId).OnDelete(DeleteBehavior.Cascade);
        builder.HasIndex(s => new { s.UserId, s.RevokedAt });
    }

    public void Configure(EntityTypeBuilder<RefreshToken> builder)
    {
        builder.ToTable("refresh_tokens");
        builder.Property(t => t.TokenHash).HasMaxLength(64);
        builder.HasIndex(t => t.TokenHash).IsUnique();
        builder.HasIndex(t => t.SessionId);
        builder.HasOne<UserSession>().WithMany().HasForeignKey(t => t.SessionId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<SigningKey> builder)
    {
        builder.ToTable("signing_keys");
        builder.Property(k => k.Id).HasMaxLength(32);
    }
}
