using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AiHub.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class BillingLifecycle : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "billing_notices",
                columns: table => new
                {
                    subscription_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    kind = table.Column<string>(type: "TEXT", maxLength: 24, nullable: false),
                    period = table.Column<string>(type: "TEXT", maxLength: 40, nullable: false),
                    sent_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_billing_notices", x => new { x.subscription_id, x.kind, x.period });
                });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "billing_notices");
        }
    }
}
