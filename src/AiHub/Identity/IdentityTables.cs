using AiHub.Data;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Identity;

/// <summary>Identity's tables, declared here so that the context does not name every feature's types.</summary>
internal static class IdentityTables
{
    extension(AppDbContext db)
    {
        public DbSet<RolePermission> RolePermissions => db.Set<RolePermission>();

        public DbSet<UserSession> UserSessions => db.Set<UserSession>();

        public DbSet<RefreshToken> RefreshTokens => db.Set<RefreshToken>();

        public DbSet<SigningKey> SigningKeys => db.Set<SigningKey>();
    }
}
