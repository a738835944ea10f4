using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

#pragma warning disable CA1814 // Prefer jagged arrays over multidimensional

namespace AiHub.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class PlansUsagePromoPools : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "api_key_spend",
                columns: table => new
                {
                    api_key_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    month = table.Column<string>(type: "TEXT", maxLength: 7, nullable: false),
                    spent = table.Column<long>(type: "INTEGER", nullable: false),
                    held = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_api_key_spend", x => new { x.api_key_id, x.month });
                    table.CheckConstraint("ck_api_key_spend_held", "held >= 0");
                    table.CheckConstraint("ck_api_key_spend_spent", "spent >= 0");
                    table.ForeignKey(
                        name: "fk_api_key_spend_api_keys_api_key_id",
                        column: x => x.api_key_id,
                        principalTable: "api_keys",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "credit_allocations",
                columns: table => new
                {
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    user_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    account_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_credit_allocations", x => new { x.organization_id, x.user_id });
                    table.ForeignKey(
                        name: "fk_credit_allocations_credit_accounts_account_id",
                        column: x => x.account_id,
                        principalTable: "credit_accounts",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_credit_allocations_memberships_organization_id_user_id",
                        columns: x => new { x.organization_id, x.user_id },
                        principalTable: "memberships",
                        principalColumns: new[] { "organization_id", "user_id" },
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "credit_holds",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    user_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    api_key_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    workspace_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    payer_account_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    payer_reservation_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    allocation_account_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    allocation_reservation_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    budget_month = table.Column<string>(type: "TEXT", maxLength: 7, nullable: true),
                    amount = table.Column<long>(type: "INTEGER", nullable: false),
                    actual_cost = table.Column<long>(type: "INTEGER", nullable: true),
                    state = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    idempotency_key = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    expires_at = table.Column<long>(type: "INTEGER", nullable: false),
                    closed_at = table.Column<long>(type: "INTEGER", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_credit_holds", x => x.id);
                    table.CheckConstraint("ck_credit_holds_amount", "amount >= 0");
                    table.ForeignKey(
                        name: "fk_credit_holds_api_keys_api_key_id",
                        column: x => x.api_key_id,
                        principalTable: "api_keys",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_credit_holds_asp_net_users_user_id",
                        column: x => x.user_id,
                        principalTable: "users",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_credit_holds_credit_accounts_payer_account_id",
                        column: x => x.payer_account_id,
                        principalTable: "credit_accounts",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_credit_holds_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "credit_pool_settings",
                columns: table => new
                {
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    members_need_allocation = table.Column<bool>(type: "INTEGER", nullable: false),
                    updated_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_credit_pool_settings", x => x.organization_id);
                    table.ForeignKey(
                        name: "fk_credit_pool_settings_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "credit_requests",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    user_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    amount = table.Column<long>(type: "INTEGER", nullable: false),
                    reason = table.Column<string>(type: "TEXT", maxLength: 500, nullable: false),
                    status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    decided_by = table.Column<Guid>(type: "TEXT", nullable: true),
                    decided_at = table.Column<long>(type: "INTEGER", nullable: true),
                    approved_amount = table.Column<long>(type: "INTEGER", nullable: true),
                    deny_reason = table.Column<string>(type: "TEXT", maxLength: 500, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_credit_requests", x => x.id);
                    table.CheckConstraint("ck_credit_requests_amount", "amount > 0");
                    table.CheckConstraint("ck_credit_requests_approved_amount", "approved_amount IS NULL OR approved_amount > 0");
                    table.ForeignKey(
                        name: "fk_credit_requests_asp_net_users_user_id",
                        column: x => x.user_id,
                        principalTable: "users",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_credit_requests_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "limit_warnings",
                columns: table => new
                {
                    subject = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    period = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    threshold = table.Column<int>(type: "INTEGER", nullable: false),
                    sent_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_limit_warnings", x => new { x.subject, x.period, x.threshold });
                });

            migrationBuilder.CreateTable(
                name: "model_prices",
                columns: table => new
                {
                    provider = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    model = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    input_micros_per_million = table.Column<long>(type: "INTEGER", nullable: false),
                    output_micros_per_million = table.Column<long>(type: "INTEGER", nullable: false),
                    updated_at = table.Column<long>(type: "INTEGER", nullable: false),
                    updated_by = table.Column<Guid>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_model_prices", x => new { x.provider, x.model });
                    table.CheckConstraint("ck_model_prices_non_negative", "input_micros_per_million >= 0 AND output_micros_per_million >= 0");
                });

            migrationBuilder.CreateTable(
                name: "plans",
                columns: table => new
                {
                    code = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    name = table.Column<string>(type: "TEXT", maxLength: 100, nullable: false),
                    chat_questions = table.Column<int>(type: "INTEGER", nullable: true),
                    chat_period = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    storage_bytes = table.Column<long>(type: "INTEGER", nullable: true),
                    videos = table.Column<int>(type: "INTEGER", nullable: true),
                    price_cents = table.Column<long>(type: "INTEGER", nullable: false),
                    currency = table.Column<string>(type: "TEXT", maxLength: 3, nullable: false),
                    grant_micros = table.Column<long>(type: "INTEGER", nullable: false),
                    active = table.Column<bool>(type: "INTEGER", nullable: false),
                    sort_order = table.Column<int>(type: "INTEGER", nullable: false)
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
                name: "promo_codes",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    code = table.Column<string>(type: "TEXT", maxLength: 40, nullable: false),
                    credits = table.Column<long>(type: "INTEGER", nullable: false),
                    max_uses = table.Column<int>(type: "INTEGER", nullable: true),
                    uses = table.Column<int>(type: "INTEGER", nullable: false),
                    expires_at = table.Column<long>(type: "INTEGER", nullable: true),
                    active = table.Column<bool>(type: "INTEGER", nullable: false),
                    created_by = table.Column<Guid>(type: "TEXT", nullable: true),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_promo_codes", x => x.id);
                    table.CheckConstraint("ck_promo_codes_credits", "credits > 0");
                    table.CheckConstraint("ck_promo_codes_max_uses", "max_uses IS NULL OR max_uses >= 1");
                    table.CheckConstraint("ck_promo_codes_uses", "uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)");
                    table.ForeignKey(
                        name: "fk_promo_codes_asp_net_users_created_by",
                        column: x => x.created_by,
                        principalTable: "users",
                        principalColumn: "id",
                        onDelete: ReferentialAction.SetNull);
                });

            migrationBuilder.CreateTable(
                name: "quota_consumptions",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    kind = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    idempotency_key = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    period_start = table.Column<long>(type: "INTEGER", nullable: false),
                    amount = table.Column<long>(type: "INTEGER", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    released_at = table.Column<long>(type: "INTEGER", nullable: true)
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
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    kind = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    period_start = table.Column<long>(type: "INTEGER", nullable: false),
                    used = table.Column<long>(type: "INTEGER", nullable: false)
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
                name: "usage_hourly",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    hour_start = table.Column<long>(type: "INTEGER", nullable: false),
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    user_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    api_key_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    provider = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    model = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    requests = table.Column<long>(type: "INTEGER", nullable: false),
                    failures = table.Column<long>(type: "INTEGER", nullable: false),
                    input_tokens = table.Column<long>(type: "INTEGER", nullable: false),
                    output_tokens = table.Column<long>(type: "INTEGER", nullable: false),
                    cost_micros = table.Column<long>(type: "INTEGER", nullable: false),
                    latency_ms_sum = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_usage_hourly", x => x.id);
                    table.ForeignKey(
                        name: "fk_usage_hourly_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "usage_records",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    idempotency_key = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    user_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    api_key_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    workspace_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    provider = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    model = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    input_tokens = table.Column<long>(type: "INTEGER", nullable: false),
                    output_tokens = table.Column<long>(type: "INTEGER", nullable: false),
                    cost_micros = table.Column<long>(type: "INTEGER", nullable: false),
                    latency_ms = table.Column<long>(type: "INTEGER", nullable: false),
                    status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    reservation_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    hour_start = table.Column<long>(type: "INTEGER", nullable: false),
                    aggregated = table.Column<bool>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_usage_records", x => x.id);
                    table.CheckConstraint("ck_usage_records_cost", "cost_micros >= 0 AND latency_ms >= 0");
                    table.CheckConstraint("ck_usage_records_tokens", "input_tokens >= 0 AND output_tokens >= 0");
                    table.ForeignKey(
                        name: "fk_usage_records_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "usage_watermark",
                columns: table => new
                {
                    id = table.Column<int>(type: "INTEGER", nullable: false),
                    aggregated_until = table.Column<long>(type: "INTEGER", nullable: false),
                    updated_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_usage_watermark", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "org_plans",
                columns: table => new
                {
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    plan_code = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    since = table.Column<long>(type: "INTEGER", nullable: false),
                    changed_by = table.Column<Guid>(type: "TEXT", nullable: true)
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

            migrationBuilder.CreateTable(
                name: "promo_redemptions",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    promo_code_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    user_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    entry_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    request_key = table.Column<string>(type: "TEXT", maxLength: 150, nullable: true),
                    redeemed_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_promo_redemptions", x => x.id);
                    table.ForeignKey(
                        name: "fk_promo_redemptions_asp_net_users_user_id",
                        column: x => x.user_id,
                        principalTable: "users",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_promo_redemptions_credit_entries_entry_id",
                        column: x => x.entry_id,
                        principalTable: "credit_entries",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_promo_redemptions_promo_codes_promo_code_id",
                        column: x => x.promo_code_id,
                        principalTable: "promo_codes",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.InsertData(
                table: "model_prices",
                columns: new[] { "model", "provider", "input_micros_per_million", "output_micros_per_million", "updated_at", "updated_by" },
                values: new object[,]
                {
                    { "claude-3-5-haiku-20241022", "anthropic", 80000000L, 400000000L, 1308351135744000000L, null },
                    { "claude-sonnet-4-0", "anthropic", 300000000L, 1500000000L, 1308351135744000000L, null },
                    { "claude-sonnet-4-20250514", "anthropic", 300000000L, 1500000000L, 1308351135744000000L, null },
                    { "gemini-2.0-flash", "gemini", 10000000L, 40000000L, 1308351135744000000L, null },
                    { "gemini-2.5-flash", "gemini", 30000000L, 250000000L, 1308351135744000000L, null },
                    { "gpt-4.1", "openai", 200000000L, 800000000L, 1308351135744000000L, null },
                    { "gpt-4.1-mini", "openai", 40000000L, 160000000L, 1308351135744000000L, null },
                    { "gpt-4o", "openai", 250000000L, 1000000000L, 1308351135744000000L, null },
                    { "gpt-4o-mini", "openai", 15000000L, 60000000L, 1308351135744000000L, null },
                    { "text-embedding-3-small", "openai", 2000000L, 0L, 1308351135744000000L, null }
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

            migrationBuilder.InsertData(
                table: "usage_watermark",
                columns: new[] { "id", "aggregated_until", "updated_at" },
                values: new object[] { 1, 1272537022464000000L, 1272537022464000000L });

            migrationBuilder.CreateIndex(
                name: "ix_credit_allocations_account_id",
                table: "credit_allocations",
                column: "account_id",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_credit_holds_api_key_id",
                table: "credit_holds",
                column: "api_key_id");

            migrationBuilder.CreateIndex(
                name: "ix_credit_holds_idempotency_key",
                table: "credit_holds",
                column: "idempotency_key",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_credit_holds_organization_id_user_id_created_at",
                table: "credit_holds",
                columns: new[] { "organization_id", "user_id", "created_at" });

            migrationBuilder.CreateIndex(
                name: "ix_credit_holds_payer_account_id",
                table: "credit_holds",
                column: "payer_account_id");

            migrationBuilder.CreateIndex(
                name: "ix_credit_holds_state_expires_at",
                table: "credit_holds",
                columns: new[] { "state", "expires_at" });

            migrationBuilder.CreateIndex(
                name: "ix_credit_holds_user_id",
                table: "credit_holds",
                column: "user_id");

            migrationBuilder.CreateIndex(
                name: "ix_credit_requests_organization_id_status_created_at",
                table: "credit_requests",
                columns: new[] { "organization_id", "status", "created_at" });

            migrationBuilder.CreateIndex(
                name: "ix_credit_requests_organization_id_user_id_created_at",
                table: "credit_requests",
                columns: new[] { "organization_id", "user_id", "created_at" });

            migrationBuilder.CreateIndex(
                name: "ix_credit_requests_user_id",
                table: "credit_requests",
                column: "user_id");

            migrationBuilder.CreateIndex(
                name: "ix_org_plans_plan_code",
                table: "org_plans",
                column: "plan_code");

            migrationBuilder.CreateIndex(
                name: "ix_promo_codes_code",
                table: "promo_codes",
                column: "code",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_promo_codes_created_at",
                table: "promo_codes",
                column: "created_at");

            migrationBuilder.CreateIndex(
                name: "ix_promo_codes_created_by",
                table: "promo_codes",
                column: "created_by");

            migrationBuilder.CreateIndex(
                name: "ix_promo_redemptions_entry_id",
                table: "promo_redemptions",
                column: "entry_id");

            migrationBuilder.CreateIndex(
                name: "ix_promo_redemptions_promo_code_id_user_id",
                table: "promo_redemptions",
                columns: new[] { "promo_code_id", "user_id" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_promo_redemptions_user_id",
                table: "promo_redemptions",
                column: "user_id");

            migrationBuilder.CreateIndex(
                name: "ix_quota_consumptions_organization_id_kind_idempotency_key",
                table: "quota_consumptions",
                columns: new[] { "organization_id", "kind", "idempotency_key" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_usage_hourly_api_key_id_hour_start",
                table: "usage_hourly",
                columns: new[] { "api_key_id", "hour_start" });

            migrationBuilder.CreateIndex(
                name: "ix_usage_hourly_hour_start_organization_id_user_id_api_key_id_provider_model",
                table: "usage_hourly",
                columns: new[] { "hour_start", "organization_id", "user_id", "api_key_id", "provider", "model" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_usage_hourly_organization_id_hour_start",
                table: "usage_hourly",
                columns: new[] { "organization_id", "hour_start" });

            migrationBuilder.CreateIndex(
                name: "ix_usage_hourly_user_id_hour_start",
                table: "usage_hourly",
                columns: new[] { "user_id", "hour_start" });

            migrationBuilder.CreateIndex(
                name: "ix_usage_records_aggregated_hour_start",
                table: "usage_records",
                columns: new[] { "aggregated", "hour_start" });

            migrationBuilder.CreateIndex(
                name: "ix_usage_records_api_key_id_created_at",
                table: "usage_records",
                columns: new[] { "api_key_id", "created_at" });

            migrationBuilder.CreateIndex(
                name: "ix_usage_records_idempotency_key",
                table: "usage_records",
                column: "idempotency_key",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_usage_records_organization_id_created_at",
                table: "usage_records",
                columns: new[] { "organization_id", "created_at" });

            migrationBuilder.CreateIndex(
                name: "ix_usage_records_user_id_created_at",
                table: "usage_records",
                columns: new[] { "user_id", "created_at" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "api_key_spend");

            migrationBuilder.DropTable(
                name: "credit_allocations");

            migrationBuilder.DropTable(
                name: "credit_holds");

            migrationBuilder.DropTable(
                name: "credit_pool_settings");

            migrationBuilder.DropTable(
                name: "credit_requests");

            migrationBuilder.DropTable(
                name: "limit_warnings");

            migrationBuilder.DropTable(
                name: "model_prices");

            migrationBuilder.DropTable(
                name: "org_plans");

            migrationBuilder.DropTable(
                name: "promo_redemptions");

            migrationBuilder.DropTable(
                name: "quota_consumptions");

            migrationBuilder.DropTable(
                name: "quota_usage");

            migrationBuilder.DropTable(
                name: "usage_hourly");

            migrationBuilder.DropTable(
                name: "usage_records");

            migrationBuilder.DropTable(
                name: "usage_watermark");

            migrationBuilder.DropTable(
                name: "plans");

            migrationBuilder.DropTable(
                name: "promo_codes");
        }
    }
}
