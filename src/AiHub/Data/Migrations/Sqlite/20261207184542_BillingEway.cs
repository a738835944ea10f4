using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AiHub.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class BillingEway : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "eway_charge_attempts",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    subscription_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    reference = table.Column<string>(type: "TEXT", maxLength: 50, nullable: false),
                    kind = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    plan_code = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    period_start = table.Column<long>(type: "INTEGER", nullable: false),
                    period_end = table.Column<long>(type: "INTEGER", nullable: false),
                    amount_minor = table.Column<long>(type: "INTEGER", nullable: false),
                    tax_minor = table.Column<long>(type: "INTEGER", nullable: false),
                    currency = table.Column<string>(type: "TEXT", maxLength: 3, nullable: false),
                    state = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    transaction_id = table.Column<string>(type: "TEXT", maxLength: 20, nullable: true),
                    response_message = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    completed_at = table.Column<long>(type: "INTEGER", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_eway_charge_attempts", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_eway_charge_attempts_created_at",
                table: "eway_charge_attempts",
                column: "created_at");

            migrationBuilder.CreateIndex(
                name: "ix_eway_charge_attempts_reference",
                table: "eway_charge_attempts",
                column: "reference",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_eway_charge_attempts_subscription_id_period_start",
                table: "eway_charge_attempts",
                columns: new[] { "subscription_id", "period_start" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "eway_charge_attempts");
        }
    }
}
