using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AiHub.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class Gateway : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "tokens_per_minute",
                table: "api_keys",
                type: "integer",
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "ix_usage_records_reservation_id",
                table: "usage_records",
                column: "reservation_id");

            migrationBuilder.AddCheckConstraint(
                name: "ck_api_keys_tokens_per_minute",
                table: "api_keys",
                sql: "tokens_per_minute IS NULL OR tokens_per_minute BETWEEN 1 AND 100000000");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_usage_records_reservation_id",
                table: "usage_records");

            migrationBuilder.DropCheckConstraint(
                name: "ck_api_keys_tokens_per_minute",
                table: "api_keys");

            migrationBuilder.DropColumn(
                name: "tokens_per_minute",
                table: "api_keys");
        }
    }
}
