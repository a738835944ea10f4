using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AiHub.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class McpClient : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "mcp_servers",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    organization_id = table.Column<Guid>(type: "uuid", nullable: false),
                    name = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    url = table.Column<string>(type: "character varying(500)", maxLength: 500, nullable: false),
                    transport = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    auth_kind = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    header_name = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: true),
                    secret_protected = table.Column<string>(type: "character varying(8000)", maxLength: 8000, nullable: true),
                    token_url = table.Column<string>(type: "character varying(500)", maxLength: 500, nullable: true),
                    client_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    scope = table.Column<string>(type: "character varying(500)", maxLength: 500, nullable: true),
                    enabled = table.Column<bool>(type: "boolean", nullable: false),
                    tools = table.Column<string>(type: "text", nullable: false),
                    tools_discovered_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    enabled_tools = table.Column<string>(type: "text", nullable: false),
                    timeout_ms = table.Column<int>(type: "integer", nullable: false),
                    max_result_bytes = table.Column<int>(type: "integer", nullable: false),
                    created_by = table.Column<Guid>(type: "uuid", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    updated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_mcp_servers", x => x.id);
                    table.ForeignKey(
                        name: "fk_mcp_servers_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "mcp_server_workspaces_off",
                columns: table => new
                {
                    workspace_id = table.Column<Guid>(type: "uuid", nullable: false),
                    server_id = table.Column<Guid>(type: "uuid", nullable: false),
                    organization_id = table.Column<Guid>(type: "uuid", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_mcp_server_workspaces_off", x => new { x.server_id, x.workspace_id });
                    table.ForeignKey(
                        name: "fk_mcp_server_workspaces_off_mcp_servers_server_id",
                        column: x => x.server_id,
                        principalTable: "mcp_servers",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_mcp_server_workspaces_off_workspaces_workspace_id",
                        column: x => x.workspace_id,
                        principalTable: "workspaces",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_mcp_server_workspaces_off_organization_id_workspace_id",
                table: "mcp_server_workspaces_off",
                columns: new[] { "organization_id", "workspace_id" });

            migrationBuilder.CreateIndex(
                name: "ix_mcp_server_workspaces_off_workspace_id",
                table: "mcp_server_workspaces_off",
                column: "workspace_id");

            migrationBuilder.CreateIndex(
                name: "ix_mcp_servers_organization_id_name",
                table: "mcp_servers",
                columns: new[] { "organization_id", "name" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "mcp_server_workspaces_off");

            migrationBuilder.DropTable(
                name: "mcp_servers");
        }
    }
}
