using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

#pragma warning disable CA1814 // Prefer jagged arrays over multidimensional

namespace AiHub.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class Plans : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "limit_warnings",
                columns: table => new
                {
                    subject = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    period = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    threshold = table.Column<int>(type: "integer", nullable: false),
                    sent_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_limit_warnings", x => new { x.subject, x.period, x.threshold });
                });

            migrationBuilder.CreateTable(
                name: "plans",
                columns: table => new
                {
                    code = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    name = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: false),
                    chat_questions = table.Column<int>(type: "integer", nullable: true),
                    chat_period = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    storage_bytes = table.Column<long>(type: "bigint", nullable: true),
                    videos = table.Column<int>(type: "integer", nullable: true),
                    price_cents = table.Column<long>(type: "bigint", nullable: false),
                    currency = table.Column<string>(type: "character varying(3)", maxLength: 3, nullable: false),
                    grant_micros = table.Column<long>(type: "bigint", nullable: false),
                    active = table.Column<bool>(type: "boolean", nullable: false),
                    sort_order = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_plans", x => x.code);
                    table.CheckConstraint("ck_plans_chat_questions", "chat_questions IS NULL OR chat_questions >= 0");
                    table.CheckConstraint("ck_plans_grant_micros", "grant_micros >= 0");
                    table.CheckConstraint("ck_plans_price_cents", "price_cents >= 0");
                    table.CheckConstraint("ck_plans_storage_bytes", "storage_bytes IS NULL OR storage_bytes >= 0");
                    table.CheckConstraint("ck_plans_videos", "videos IS NULL OR videos >= 0");
                });

            migrationBuilder.CreateTable(
                name: "quota_consumptions",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    organization_id = table.Column<Guid>(type: "uuid", nullable: false),
                    kind = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    idempotency_key = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    period_start = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    amount = table.Column<long>(type: "bigint", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    released_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_quota_consumptions", x => x.id);
                    table.CheckConstraint("ck_quota_consumptions_amount", "amount > 0");
                    table.ForeignKey(
                        name: "fk_quota_consumptions_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "quota_usage",
                columns: table => new
                {
                    organization_id = table.Column<Guid>(type: "uuid", nullable: false),
                    kind = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    period_start = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    used = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_quota_usage", x => new { x.organization_id, x.kind, x.period_start });
                    table.CheckConstraint("ck_quota_usage_used", "used >= 0");
                    table.ForeignKey(
                        name: "fk_quota_usage_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "org_plans",
                columns: table => new
                {
                    organization_id = table.Column<Guid>(type: "uuid", nullable: false),
                    plan_code = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    since = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    changed_by = table.Column<Guid>(type: "uuid", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_org_plans", x => x.organization_id);
                    table.ForeignKey(
                        name: "fk_org_plans_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_org_plans_plans_plan_code",
                        column: x => x.plan_code,
                        principalTable: "plans",
                        principalColumn: "code",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.InsertData(
                table: "plans",
                columns: new[] { "code", "active", "chat_period", "chat_questions", "currency", "grant_micros", "name", "price_cents", "sort_order", "storage_bytes", "videos" },
                values: new object[,]
                {
                    { "BASIC", true, "Day", 100, "USD", 0L, "Basic", 2900L, 1, 25000000000L, 50 },
                    { "ENTERPRISE", true, "Day", null, "USD", 0L, "Enterprise", 29900L, 3, 500000000000L, null },
                    { "FREE", true, "Total", 3, "USD", 10000000L, "Free", 0L, 0, 5000000000L, 10 },
                    { "PRO", true, "Day", 500, "USD", 0L, "Pro", 7900L, 2, 100000000000L, 200 }
                });

            migrationBuilder.CreateIndex(
                name: "ix_org_plans_plan_code",
                table: "org_plans",
                column: "plan_code");

            migrationBuilder.CreateIndex(
                name: "ix_quota_consumptions_organization_id_kind_idempotency_key",
                table: "quota_consumptions",
                columns: new[] { "organization_id", "kind", "idempotency_key" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "limit_warnings");

            migrationBuilder.DropTable(
                name: "org_plans");

            migrationBuilder.DropTable(
                name: "quota_consumptions");

            migrationBuilder.DropTable(
                name: "quota_usage");

            migrationBuilder.DropTable(
                name: "plans");
        }
    }
}
