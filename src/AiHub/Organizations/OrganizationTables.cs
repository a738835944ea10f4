using AiHub.Data;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Organizations;

/// <summary>Organizations' tables, declared here so that the context does not name every feature's types.</summary>
/// <remarks>Organizations, workspaces and API keys stay on the context: see docs/decisions/0012-feature-boundaries.md.</remarks>
internal static class OrganizationTables
{
    extension(AppDbContext db)
    {
        public DbSet<Membership> Memberships => db.Set<Membership>();

        public DbSet<Team> Teams => db.Set<Team>();

        public DbSet<TeamMember> TeamMembers => db.Set<TeamMember>();

        public DbSet<Invitation> Invitations => db.Set<Invitation>();
    }
}
