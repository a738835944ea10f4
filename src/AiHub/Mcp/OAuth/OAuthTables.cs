using AiHub.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using OpenIddict.EntityFrameworkCore;
using OpenIddict.EntityFrameworkCore.Models;

namespace AiHub.Mcp.OAuth;

internal sealed class OAuthApplication : OpenIddictEntityFrameworkCoreApplication<Guid, OAuthAuthorization, OAuthToken>;

internal sealed class OAuthAuthorization : OpenIddictEntityFrameworkCoreAuthorization<Guid, OAuthApplication, OAuthToken>;

internal sealed class OAuthScope : OpenIddictEntityFrameworkCoreScope<Guid>;

internal sealed class OAuthToken : OpenIddictEntityFrameworkCoreToken<Guid, OAuthApplication, OAuthAuthorization>;

/// <summary>OpenIddict's stores for the MCP authorization server, declared here so that Data need not know of them.</summary>
internal sealed class OAuthModelConfiguration :
    IEntityTypeConfiguration<OAuthApplication>,
    IEntityTypeConfiguration<OAuthAuthorization>,
    IEntityTypeConfiguration<OAuthScope>,
    IEntityTypeConfiguration<OAuthToken>
{
    public void Configure(EntityTypeBuilder<OAuthApplication> builder)
    {
        new OpenIddictEntityFrameworkCoreApplicationConfiguration<OAuthApplication, OAuthAuthorization, OAuthToken, Guid>().Configure(builder);
        builder.ToTable("oauth_applications");
    }

    public void Configure(EntityTypeBuilder<OAuthAuthorization> builder)
    {
        new OpenIddictEntityFrameworkCoreAuthorizationConfiguration<OAuthAuthorization, OAuthApplication, OAuthToken, Guid>().Configure(builder);
        builder.ToTable("oauth_authorizations");
    }

    public void Configure(EntityTypeBuilder<OAuthScope> builder)
    {
        new OpenIddictEntityFrameworkCoreScopeConfiguration<OAuthScope, Guid>().Configure(builder);
        builder.ToTable("oauth_scopes");
    }

    public void Configure(EntityTypeBuilder<OAuthToken> builder)
    {
        new OpenIddictEntityFrameworkCoreTokenConfiguration<OAuthToken, OAuthApplication, OAuthAuthorization, Guid>().Configure(builder);
        builder.ToTable("oauth_tokens");
    }
}

/// <summary>The OAuth stores as sets, read by the connected-apps list.</summary>
internal static class OAuthTables
{
    extension(AppDbContext db)
    {
        public DbSet<OAuthApplication> OAuthApplications => db.Set<OAuthApplication>();

        public DbSet<OAuthAuthorization> OAuthAuthorizations => db.Set<OAuthAuthorization>();

        public DbSet<OAuthToken> OAuthTokens => db.Set<OAuthToken>();
    }
}
