using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AiHub.Infrastructure.Audit;

/// <summary>
/// One security-relevant event. The table is append-only: the database refuses updates and deletes
/// (a trigger on both providers), and <see cref="Data.AppDbContext"/> refuses them before they reach it.
/// </summary>
internal sealed class AuditEvent
{
    public Guid Id { get; init; }

    public DateTimeOffset OccurredAt { get; init; }

    /// <summary>One of <see cref="AuditKinds"/>.</summary>
    public required string Kind { get; init; }

    /// <summary>Whom the event is about.</summary>
    public Guid? UserId { get; init; }

    /// <summary>Who did it, when that is someone else (an admin granting a role).</summary>
    public Guid? ActorId { get; init; }

    public Guid? OrganizationId { get; init; }

    public string? IpAddress { get; init; }

    public string? UserAgent { get; init; }

    /// <summary>Small JSON object with what else matters (the role granted, the provider linked); never a secret.</summary>
    public string? Data { get; init; }
}

internal static class AuditKinds
{
    public const string Registered = "user.registered";
    public const string EmailVerified = "user.email_verified";
    public const string LoginSucceeded = "login.succeeded";
    public const string LoginFailed = "login.failed";
    public const string LockedOut = "login.locked_out";
    public const string Logout = "logout";
    public const string RefreshReused = "token.refresh_reused";
    public const string SessionRevoked = "session.revoked";
    public const string PasswordChanged = "password.changed";
    public const string PasswordResetRequested = "password.reset_requested";
    public const string PasswordReset = "password.reset";
    public const string TwoFactorEnabled = "2fa.enabled";
    public const string TwoFactorDisabled = "2fa.disabled";
    public const string RecoveryCodeUsed = "2fa.recovery_code_used";
    public const string RoleGranted = "role.granted";
    public const string RoleRevoked = "role.revoked";
    public const string ExternalLoginLinked = "oauth.linked";
    public const string AccountReclaimed = "user.reclaimed";
    public const string OrgCreated = "org.created";
    public const string OrgUpdated = "org.updated";
    public const string OrgDeleted = "org.deleted";
    public const string OrgRestored = "org.restored";
    public const string MemberJoined = "member.joined";
    public const string MemberRoleChanged = "member.role_changed";
    public const string MemberRemoved = "member.removed";
    public const string MemberLeft = "member.left";
    public const string OwnershipTransferred = "org.ownership_transferred";
    public const string InvitationSent = "invitation.sent";
    public const string InvitationRevoked = "invitation.revoked";
    public const string InvitationDeclined = "invitation.declined";
    public const string WorkspaceCreated = "workspace.created";
    public const string WorkspaceUpdated = "workspace.updated";
    public const string WorkspaceDeleted = "workspace.deleted";
    public const string TeamCreated = "team.created";
    public const string TeamUpdated = "team.updated";
    public const string TeamDeleted = "team.deleted";
    public const string TeamMemberAdded = "team.member_added";
    public const string TeamMemberRemoved = "team.member_removed";
    public const string CreditsAdjusted = "credits.adjusted";
    public const string CreditsBulkAdjusted = "credits.bulk_adjusted";
    public const string PromoCodeCreated = "promo.created";
    public const string PromoCodeDeactivated = "promo.deactivated";
    public const string PromoCodeRedeemed = "promo.redeemed";
    public const string CreditsAllocationChanged = "credits.allocation_changed";
    public const string CreditsAllocationRemoved = "credits.allocation_removed";
    public const string CreditsRequested = "credits.requested";
    public const string CreditsRequestApproved = "credits.request_approved";
    public const string CreditsRequestDenied = "credits.request_denied";
    public const string CreditsPoolSettingsChanged = "credits.pool_settings_changed";
    public const string ApiKeyCreated = "api_key.created";
    public const string ApiKeyRevoked = "api_key.revoked";
    public const string ApiKeyRotated = "api_key.rotated";
    public const string ApiKeyLimitsChanged = "api_key.limits_changed";
    public const string ModelPriceSet = "model_price.set";
    public const string ModelPriceDeleted = "model_price.deleted";
    public const string SystemPromptChanged = "system_prompt.changed";
}

internal sealed class AuditEventConfiguration : IEntityTypeConfiguration<AuditEvent>
{
    public void Configure(EntityTypeBuilder<AuditEvent> builder)
    {
        builder.ToTable("audit_events");
        builder.Property(e => e.Kind).HasMaxLength(64);
        builder.Property(e => e.IpAddress).HasMaxLength(64);
        builder.Property(e => e.UserAgent).HasMaxLength(512);
        builder.Property(e => e.Data).HasMaxLength(4000);
        builder.HasIndex(e => new { e.UserId, e.OccurredAt });
        builder.HasIndex(e => new { e.OrganizationId, e.OccurredAt });
        builder.HasIndex(e => e.OccurredAt);
    }
}
