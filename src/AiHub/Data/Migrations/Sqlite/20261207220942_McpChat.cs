using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AiHub.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class McpChat : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_usage_hourly_hour_start_organization_id_user_id_api_key_id_provider_model",
                table: "usage_hourly");

            migrationBuilder.AddColumn<string>(
                name: "channel",
                table: "usage_hourly",
                type: "TEXT",
                maxLength: 16,
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "ix_usage_hourly_hour_start_organization_id_user_id_api_key_id_channel_provider_model",
                table: "usage_hourly",
                columns: new[] { "hour_start", "organization_id", "user_id", "api_key_id", "channel", "provider", "model" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_usage_hourly_hour_start_organization_id_user_id_api_key_id_channel_provider_model",
                table: "usage_hourly");

            migrationBuilder.DropColumn(
                name: "channel",
                table: "usage_hourly");

            migrationBuilder.CreateIndex(
                name: "ix_usage_hourly_hour_start_organization_id_user_id_api_key_id_provider_model",
                table: "usage_hourly",
                columns: new[] { "hour_start", "organization_id", "user_id", "api_key_id", "provider", "model" },
                unique: true);
        }
    }
}
