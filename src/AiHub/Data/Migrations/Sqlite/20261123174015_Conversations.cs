using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AiHub.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class Conversations : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "conversations",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    workspace_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    owner_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    title = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    title_generated = table.Column<bool>(type: "INTEGER", nullable: false),
                    system_prompt = table.Column<string>(type: "TEXT", maxLength: 20000, nullable: true),
                    model = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    pinned_at = table.Column<long>(type: "INTEGER", nullable: true),
                    archived_at = table.Column<long>(type: "INTEGER", nullable: true),
                    share_token_hash = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true),
                    shared_at = table.Column<long>(type: "INTEGER", nullable: true),
                    current_leaf_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    updated_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_conversations", x => x.id);
                    table.ForeignKey(
                        name: "fk_conversations_asp_net_users_owner_id",
                        column: x => x.owner_id,
                        principalTable: "users",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_conversations_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_conversations_workspaces_workspace_id",
                        column: x => x.workspace_id,
                        principalTable: "workspaces",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "system_prompts",
                columns: table => new
                {
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    text = table.Column<string>(type: "TEXT", maxLength: 20000, nullable: false),
                    updated_by = table.Column<Guid>(type: "TEXT", nullable: false),
                    updated_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_system_prompts", x => x.organization_id);
                    table.ForeignKey(
                        name: "fk_system_prompts_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "chat_messages",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    conversation_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    parent_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    role = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    content = table.Column<string>(type: "TEXT", nullable: false),
                    status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    provider = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true),
                    model = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    finish_reason = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true),
                    input_tokens = table.Column<long>(type: "INTEGER", nullable: true),
                    output_tokens = table.Column<long>(type: "INTEGER", nullable: true),
                    estimated_input_tokens = table.Column<long>(type: "INTEGER", nullable: true),
                    estimated_output_tokens = table.Column<long>(type: "INTEGER", nullable: true),
                    usage_reported = table.Column<bool>(type: "INTEGER", nullable: false),
                    cost_micros = table.Column<long>(type: "INTEGER", nullable: false),
                    tool_calls = table.Column<string>(type: "TEXT", nullable: true),
                    error = table.Column<string>(type: "TEXT", nullable: true),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    completed_at = table.Column<long>(type: "INTEGER", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_chat_messages", x => x.id);
                    table.ForeignKey(
                        name: "fk_chat_messages_chat_messages_parent_id",
                        column: x => x.parent_id,
                        principalTable: "chat_messages",
                        principalColumn: "id");
                    table.ForeignKey(
                        name: "fk_chat_messages_conversations_conversation_id",
                        column: x => x.conversation_id,
                        principalTable: "conversations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_chat_messages_conversation_id_parent_id_created_at",
                table: "chat_messages",
                columns: new[] { "conversation_id", "parent_id", "created_at" });

            migrationBuilder.CreateIndex(
                name: "ix_chat_messages_parent_id",
                table: "chat_messages",
                column: "parent_id");

            migrationBuilder.CreateIndex(
                name: "ix_conversations_organization_id_workspace_id_owner_id_updated_at",
                table: "conversations",
                columns: new[] { "organization_id", "workspace_id", "owner_id", "updated_at" });

            migrationBuilder.CreateIndex(
                name: "ix_conversations_owner_id",
                table: "conversations",
                column: "owner_id");

            migrationBuilder.CreateIndex(
                name: "ix_conversations_share_token_hash",
                table: "conversations",
                column: "share_token_hash",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_conversations_workspace_id",
                table: "conversations",
                column: "workspace_id");

            // EF has no model for FTS5: search over titles and contents uses external-content FTS5 tables kept in step by triggers.
            migrationBuilder.Sql("CREATE VIRTUAL TABLE conversations_fts USING fts5(title, content='conversations', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2');");
            migrationBuilder.Sql("CREATE TRIGGER conversations_fts_insert AFTER INSERT ON conversations BEGIN INSERT INTO conversations_fts(rowid, title) VALUES (new.rowid, new.title); END;");
            migrationBuilder.Sql("CREATE TRIGGER conversations_fts_delete AFTER DELETE ON conversations BEGIN INSERT INTO conversations_fts(conversations_fts, rowid, title) VALUES ('delete', old.rowid, old.title); END;");
            migrationBuilder.Sql("CREATE TRIGGER conversations_fts_update AFTER UPDATE OF title ON conversations BEGIN INSERT INTO conversations_fts(conversations_fts, rowid, title) VALUES ('delete', old.rowid, old.title); INSERT INTO conversations_fts(rowid, title) VALUES (new.rowid, new.title); END;");
            migrationBuilder.Sql("CREATE VIRTUAL TABLE chat_messages_fts USING fts5(content, content='chat_messages', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2');");
            migrationBuilder.Sql("CREATE TRIGGER chat_messages_fts_insert AFTER INSERT ON chat_messages BEGIN INSERT INTO chat_messages_fts(rowid, content) VALUES (new.rowid, new.content); END;");
            migrationBuilder.Sql("CREATE TRIGGER chat_messages_fts_delete AFTER DELETE ON chat_messages BEGIN INSERT INTO chat_messages_fts(chat_messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content); END;");
            migrationBuilder.Sql("CREATE TRIGGER chat_messages_fts_update AFTER UPDATE OF content ON chat_messages BEGIN INSERT INTO chat_messages_fts(chat_messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content); INSERT INTO chat_messages_fts(rowid, content) VALUES (new.rowid, new.content); END;");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("DROP TABLE chat_messages_fts;");
            migrationBuilder.Sql("DROP TABLE conversations_fts;");

            migrationBuilder.DropTable(
                name: "chat_messages");

            migrationBuilder.DropTable(
                name: "system_prompts");

            migrationBuilder.DropTable(
                name: "conversations");
        }
    }
}
