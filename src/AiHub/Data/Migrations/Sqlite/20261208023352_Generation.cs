using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AiHub.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class Generation : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "balance_after",
                table: "credit_entries",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "credit_service_charges",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    api_key_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    user_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    kind = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    idempotency_key = table.Column<string>(type: "TEXT", maxLength: 150, nullable: false),
                    service = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    reference = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    amount = table.Column<long>(type: "INTEGER", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_credit_service_charges", x => x.id);
                    table.CheckConstraint("ck_credit_service_charges_amount", "amount > 0");
                    table.ForeignKey(
                        name: "fk_credit_service_charges_api_keys_api_key_id",
                        column: x => x.api_key_id,
                        principalTable: "api_keys",
                        principalColumn: "id",
                        onDelete: ReferentialAction.SetNull);
                    table.ForeignKey(
                        name: "fk_credit_service_charges_asp_net_users_user_id",
                        column: x => x.user_id,
                        principalTable: "users",
                        principalColumn: "id",
                        onDelete: ReferentialAction.SetNull);
                    table.ForeignKey(
                        name: "fk_credit_service_charges_credit_holds_id",
                        column: x => x.id,
                        principalTable: "credit_holds",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                    table.ForeignKey(
                        name: "fk_credit_service_charges_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "generation_jobs",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    workspace_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    user_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    api_key_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    channel = table.Column<string>(type: "TEXT", maxLength: 16, nullable: true),
                    client_id = table.Column<string>(type: "TEXT", maxLength: 100, nullable: true),
                    kind = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    provider = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    model = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    prompt = table.Column<string>(type: "TEXT", maxLength: 32000, nullable: false),
                    size = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    seconds = table.Column<int>(type: "INTEGER", nullable: true),
                    quality = table.Column<string>(type: "TEXT", maxLength: 32, nullable: true),
                    count = table.Column<int>(type: "INTEGER", nullable: false),
                    input_blob_key = table.Column<string>(type: "TEXT", maxLength: 300, nullable: true),
                    input_content_type = table.Column<string>(type: "TEXT", maxLength: 100, nullable: true),
                    input_generation_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    remix_of_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    progress = table.Column<int>(type: "INTEGER", nullable: false),
                    error = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true),
                    error_code = table.Column<string>(type: "TEXT", maxLength: 32, nullable: true),
                    provider_job_id = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    hold_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    held_micros = table.Column<long>(type: "INTEGER", nullable: false),
                    cost_micros = table.Column<long>(type: "INTEGER", nullable: false),
                    callback_url = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true),
                    callback_secret_protected = table.Column<string>(type: "TEXT", maxLength: 1000, nullable: true),
                    callback_sent_at = table.Column<long>(type: "INTEGER", nullable: true),
                    storage_bytes = table.Column<long>(type: "INTEGER", nullable: false),
                    quota_counted = table.Column<bool>(type: "INTEGER", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    updated_at = table.Column<long>(type: "INTEGER", nullable: false),
                    started_at = table.Column<long>(type: "INTEGER", nullable: true),
                    completed_at = table.Column<long>(type: "INTEGER", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_generation_jobs", x => x.id);
                    table.CheckConstraint("ck_generation_jobs_count", "count BETWEEN 1 AND 10");
                    table.CheckConstraint("ck_generation_jobs_progress", "progress BETWEEN 0 AND 100");
                    table.ForeignKey(
                        name: "fk_generation_jobs_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_generation_jobs_workspaces_workspace_id",
                        column: x => x.workspace_id,
                        principalTable: "workspaces",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "generation_prices",
                columns: table => new
                {
                    provider = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    model = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    size = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    quality = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    micros_per_unit = table.Column<long>(type: "INTEGER", nullable: false),
                    updated_at = table.Column<long>(type: "INTEGER", nullable: false),
                    updated_by = table.Column<Guid>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_generation_prices", x => new { x.provider, x.model, x.size, x.quality });
                    table.CheckConstraint("ck_generation_prices_micros", "micros_per_unit >= 0");
                });

            migrationBuilder.CreateTable(
                name: "generation_outputs",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    job_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    index = table.Column<int>(type: "INTEGER", nullable: false),
                    blob_key = table.Column<string>(type: "TEXT", maxLength: 300, nullable: false),
                    content_type = table.Column<string>(type: "TEXT", maxLength: 100, nullable: false),
                    size_bytes = table.Column<long>(type: "INTEGER", nullable: false),
                    width = table.Column<int>(type: "INTEGER", nullable: true),
                    height = table.Column<int>(type: "INTEGER", nullable: true),
                    duration_seconds = table.Column<double>(type: "REAL", nullable: true),
                    thumbnail_blob_key = table.Column<string>(type: "TEXT", maxLength: 300, nullable: true),
                    thumbnail_bytes = table.Column<long>(type: "INTEGER", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_generation_outputs", x => x.id);
                    table.ForeignKey(
                        name: "fk_generation_outputs_generation_jobs_job_id",
                        column: x => x.job_id,
                        principalTable: "generation_jobs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_generation_outputs_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_credit_service_charges_api_key_id",
                table: "credit_service_charges",
                column: "api_key_id");

            migrationBuilder.CreateIndex(
                name: "ix_credit_service_charges_organization_id_kind_idempotency_key",
                table: "credit_service_charges",
                columns: new[] { "organization_id", "kind", "idempotency_key" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_credit_service_charges_user_id",
                table: "credit_service_charges",
                column: "user_id");

            migrationBuilder.CreateIndex(
                name: "ix_generation_jobs_organization_id_status",
                table: "generation_jobs",
                columns: new[] { "organization_id", "status" });

            migrationBuilder.CreateIndex(
                name: "ix_generation_jobs_organization_id_workspace_id_created_at",
                table: "generation_jobs",
                columns: new[] { "organization_id", "workspace_id", "created_at" });

            migrationBuilder.CreateIndex(
                name: "ix_generation_jobs_workspace_id",
                table: "generation_jobs",
                column: "workspace_id");

            migrationBuilder.CreateIndex(
                name: "ix_generation_outputs_job_id_index",
                table: "generation_outputs",
                columns: new[] { "job_id", "index" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_generation_outputs_organization_id",
                table: "generation_outputs",
                column: "organization_id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "credit_service_charges");

            migrationBuilder.DropTable(
                name: "generation_outputs");

            migrationBuilder.DropTable(
                name: "generation_prices");

            migrationBuilder.DropTable(
                name: "generation_jobs");

            migrationBuilder.DropColumn(
                name: "balance_after",
                table: "credit_entries");
        }
    }
}
