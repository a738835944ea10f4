using System.ComponentModel.DataAnnotations;

namespace AiHub.Data;

internal enum DatabaseProvider
{
    Sqlite,
    Postgres,
}

internal sealed class DatabaseSettings : IValidatableObject
{
    public const string Section = "Database";

    public DatabaseProvider Provider { get; set; } = DatabaseProvider.Sqlite;

    /// <summary>Optional for SQLite (defaults to <c>data/aihub.db</c> under the content root); required for PostgreSQL.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Whether a node applies pending migrations when it starts. Unset: yes when embedded, no in a cluster.</summary>
    public bool? MigrateOnStart { get; set; }

    public bool ShouldMigrateOnStart => MigrateOnStart ?? Provider == DatabaseProvider.Sqlite;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Provider == DatabaseProvider.Postgres && string.IsNullOrWhiteSpace(ConnectionString))
            yield return new ValidationResult(
                "is required when Database:Provider is Postgres (e.g. Host=db;Database=aihub;Username=aihub;Password=…)",
                [nameof(ConnectionString)]);
    }
}
