using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AiHub.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class CreditPools : Migration
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
        }
    }
}
