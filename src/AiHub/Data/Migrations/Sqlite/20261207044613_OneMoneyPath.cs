using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AiHub.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class OneMoneyPath : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // Holds still open at the upgrade are voided: reserved amounts and key budgets are counted from pending holds from now on.
            migrationBuilder.Sql("UPDATE credit_holds SET state = 'Released', actual_cost = 0 WHERE state = 'Open'");
            migrationBuilder.Sql("UPDATE credit_accounts SET reserved = 0");
            migrationBuilder.Sql("UPDATE api_key_spend SET held = 0");

            migrationBuilder.DropForeignKey(
                name: "fk_credit_accounts_asp_net_users_user_id",
                table: "credit_accounts");

            migrationBuilder.DropForeignKey(
                name: "fk_credit_accounts_organizations_organization_id",
                table: "credit_accounts");

            migrationBuilder.DropForeignKey(
                name: "fk_credit_entries_credit_accounts_account_id",
                table: "credit_entries");

            migrationBuilder.DropForeignKey(
                name: "fk_credit_holds_api_keys_api_key_id",
                table: "credit_holds");

            migrationBuilder.DropForeignKey(
                name: "fk_credit_holds_asp_net_users_user_id",
                table: "credit_holds");

            migrationBuilder.DropForeignKey(
                name: "fk_credit_holds_credit_accounts_payer_account_id",
                table: "credit_holds");

            migrationBuilder.DropForeignKey(
                name: "fk_credit_holds_organizations_organization_id",
                table: "credit_holds");

            migrationBuilder.DropForeignKey(
                name: "fk_usage_records_organizations_organization_id",
                table: "usage_records");

            migrationBuilder.DropTable(
                name: "credit_reservations");

            migrationBuilder.DropColumn(
                name: "allocation_reservation_id",
                table: "credit_holds");

            migrationBuilder.DropColumn(
                name: "payer_reservation_id",
                table: "credit_holds");

            migrationBuilder.RenameColumn(
                name: "reservation_id",
                table: "credit_entries",
                newName: "hold_id");

            migrationBuilder.AlterColumn<Guid>(
                name: "user_id",
                table: "credit_holds",
                type: "TEXT",
                nullable: true,
                oldClrType: typeof(Guid),
                oldType: "TEXT");

            migrationBuilder.AlterColumn<Guid>(
                name: "organization_id",
                table: "credit_holds",
                type: "TEXT",
                nullable: true,
                oldClrType: typeof(Guid),
                oldType: "TEXT");

            migrationBuilder.AddColumn<long>(
                name: "quota_amount",
                table: "credit_holds",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0L);

            migrationBuilder.AddColumn<string>(
                name: "quota_kind",
                table: "credit_holds",
                type: "TEXT",
                maxLength: 16,
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "quota_period_start",
                table: "credit_holds",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "reference",
                table: "credit_holds",
                type: "TEXT",
                maxLength: 200,
                nullable: false,
                defaultValue: "");

            migrationBuilder.CreateIndex(
                name: "ix_credit_holds_allocation_account_id",
                table: "credit_holds",
                column: "allocation_account_id");

            migrationBuilder.AddCheckConstraint(
                name: "ck_credit_holds_quota_amount",
                table: "credit_holds",
                sql: "quota_amount >= 0");

            migrationBuilder.AddForeignKey(
                name: "fk_credit_accounts_asp_net_users_user_id",
                table: "credit_accounts",
                column: "user_id",
                principalTable: "users",
                principalColumn: "id",
                onDelete: ReferentialAction.SetNull);

            migrationBuilder.AddForeignKey(
                name: "fk_credit_accounts_organizations_organization_id",
                table: "credit_accounts",
                column: "organization_id",
                principalTable: "organizations",
                principalColumn: "id",
                onDelete: ReferentialAction.SetNull);

            migrationBuilder.AddForeignKey(
                name: "fk_credit_entries_credit_accounts_account_id",
                table: "credit_entries",
                column: "account_id",
                principalTable: "credit_accounts",
                principalColumn: "id",
                onDelete: ReferentialAction.Restrict);

            migrationBuilder.AddForeignKey(
                name: "fk_credit_holds_api_keys_api_key_id",
                table: "credit_holds",
                column: "api_key_id",
                principalTable: "api_keys",
                principalColumn: "id",
                onDelete: ReferentialAction.SetNull);

            migrationBuilder.AddForeignKey(
                name: "fk_credit_holds_asp_net_users_user_id",
                table: "credit_holds",
                column: "user_id",
                principalTable: "users",
                principalColumn: "id",
                onDelete: ReferentialAction.SetNull);

            migrationBuilder.AddForeignKey(
                name: "fk_credit_holds_credit_accounts_allocation_account_id",
                table: "credit_holds",
                column: "allocation_account_id",
                principalTable: "credit_accounts",
                principalColumn: "id",
                onDelete: ReferentialAction.Restrict);

            migrationBuilder.AddForeignKey(
                name: "fk_credit_holds_credit_accounts_payer_account_id",
                table: "credit_holds",
                column: "payer_account_id",
                principalTable: "credit_accounts",
                principalColumn: "id",
                onDelete: ReferentialAction.Restrict);

            migrationBuilder.AddForeignKey(
                name: "fk_credit_holds_organizations_organization_id",
                table: "credit_holds",
                column: "organization_id",
                principalTable: "organizations",
                principalColumn: "id",
                onDelete: ReferentialAction.SetNull);

            migrationBuilder.Sql("UPDATE credit_holds SET state = CASE state WHEN 'Settled' THEN 'Posted' WHEN 'Released' THEN 'Voided' ELSE state END");
            migrationBuilder.Sql("UPDATE credit_holds SET reference = 'AI call' WHERE reference = ''");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropForeignKey(
                name: "fk_credit_accounts_asp_net_users_user_id",
                table: "credit_accounts");

            migrationBuilder.DropForeignKey(
                name: "fk_credit_accounts_organizations_organization_id",
                table: "credit_accounts");

            migrationBuilder.DropForeignKey(
                name: "fk_credit_entries_credit_accounts_account_id",
                table: "credit_entries");

            migrationBuilder.DropForeignKey(
                name: "fk_credit_holds_api_keys_api_key_id",
                table: "credit_holds");

            migrationBuilder.DropForeignKey(
                name: "fk_credit_holds_asp_net_users_user_id",
                table: "credit_holds");

            migrationBuilder.DropForeignKey(
                name: "fk_credit_holds_credit_accounts_allocation_account_id",
                table: "credit_holds");

            migrationBuilder.DropForeignKey(
                name: "fk_credit_holds_credit_accounts_payer_account_id",
                table: "credit_holds");

            migrationBuilder.DropForeignKey(
                name: "fk_credit_holds_organizations_organization_id",
                table: "credit_holds");

            migrationBuilder.DropIndex(
                name: "ix_credit_holds_allocation_account_id",
                table: "credit_holds");

            migrationBuilder.DropCheckConstraint(
                name: "ck_credit_holds_quota_amount",
                table: "credit_holds");

            migrationBuilder.DropColumn(
                name: "quota_amount",
                table: "credit_holds");

            migrationBuilder.DropColumn(
                name: "quota_kind",
                table: "credit_holds");

            migrationBuilder.DropColumn(
                name: "quota_period_start",
                table: "credit_holds");

            migrationBuilder.DropColumn(
                name: "reference",
                table: "credit_holds");

            migrationBuilder.RenameColumn(
                name: "hold_id",
                table: "credit_entries",
                newName: "reservation_id");

            migrationBuilder.AlterColumn<Guid>(
                name: "user_id",
                table: "credit_holds",
                type: "TEXT",
                nullable: false,
                defaultValue: new Guid("00000000-0000-0000-0000-000000000000"),
                oldClrType: typeof(Guid),
                oldType: "TEXT",
                oldNullable: true);

            migrationBuilder.AlterColumn<Guid>(
                name: "organization_id",
                table: "credit_holds",
                type: "TEXT",
                nullable: false,
                defaultValue: new Guid("00000000-0000-0000-0000-000000000000"),
                oldClrType: typeof(Guid),
                oldType: "TEXT",
                oldNullable: true);

            migrationBuilder.AddColumn<Guid>(
                name: "allocation_reservation_id",
                table: "credit_holds",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<Guid>(
                name: "payer_reservation_id",
                table: "credit_holds",
                type: "TEXT",
                nullable: false,
                defaultValue: new Guid("00000000-0000-0000-0000-000000000000"));

            migrationBuilder.CreateTable(
                name: "credit_reservations",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    account_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    amount = table.Column<long>(type: "INTEGER", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    expires_at = table.Column<long>(type: "INTEGER", nullable: false),
                    idempotency_key = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    state = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_credit_reservations", x => x.id);
                    table.ForeignKey(
                        name: "fk_credit_reservations_credit_accounts_account_id",
                        column: x => x.account_id,
                        principalTable: "credit_accounts",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_credit_reservations_account_id",
                table: "credit_reservations",
                column: "account_id");

            migrationBuilder.CreateIndex(
                name: "ix_credit_reservations_idempotency_key",
                table: "credit_reservations",
                column: "idempotency_key",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_credit_reservations_state_expires_at",
                table: "credit_reservations",
                columns: new[] { "state", "expires_at" });

            migrationBuilder.AddForeignKey(
                name: "fk_credit_accounts_asp_net_users_user_id",
                table: "credit_accounts",
                column: "user_id",
                principalTable: "users",
                principalColumn: "id",
                onDelete: ReferentialAction.Cascade);

            migrationBuilder.AddForeignKey(
                name: "fk_credit_accounts_organizations_organization_id",
                table: "credit_accounts",
                column: "organization_id",
                principalTable: "organizations",
                principalColumn: "id",
                onDelete: ReferentialAction.Cascade);

            migrationBuilder.AddForeignKey(
                name: "fk_credit_entries_credit_accounts_account_id",
                table: "credit_entries",
                column: "account_id",
                principalTable: "credit_accounts",
                principalColumn: "id",
                onDelete: ReferentialAction.Cascade);

            migrationBuilder.AddForeignKey(
                name: "fk_credit_holds_api_keys_api_key_id",
                table: "credit_holds",
                column: "api_key_id",
                principalTable: "api_keys",
                principalColumn: "id",
                onDelete: ReferentialAction.Cascade);

            migrationBuilder.AddForeignKey(
                name: "fk_credit_holds_asp_net_users_user_id",
                table: "credit_holds",
                column: "user_id",
                principalTable: "users",
                principalColumn: "id",
                onDelete: ReferentialAction.Cascade);

            migrationBuilder.AddForeignKey(
                name: "fk_credit_holds_credit_accounts_payer_account_id",
                table: "credit_holds",
                column: "payer_account_id",
                principalTable: "credit_accounts",
                principalColumn: "id",
                onDelete: ReferentialAction.Cascade);

            migrationBuilder.AddForeignKey(
                name: "fk_credit_holds_organizations_organization_id",
                table: "credit_holds",
                column: "organization_id",
                principalTable: "organizations",
                principalColumn: "id",
                onDelete: ReferentialAction.Cascade);

            migrationBuilder.AddForeignKey(
                name: "fk_usage_records_organizations_organization_id",
                table: "usage_records",
                column: "organization_id",
                principalTable: "organizations",
                principalColumn: "id",
                onDelete: ReferentialAction.Cascade);
        }
    }
}
