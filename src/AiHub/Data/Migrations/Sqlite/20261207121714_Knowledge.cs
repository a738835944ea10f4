using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AiHub.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class Knowledge : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "max_file_bytes",
                table: "plans",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "knowledge_base_ids",
                table: "conversations",
                type: "TEXT",
                nullable: false,
                defaultValue: "[]");

            migrationBuilder.AddColumn<string>(
                name: "citations",
                table: "chat_messages",
                type: "TEXT",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "knowledge_bases",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    workspace_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    name = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    description = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true),
                    embedding_model = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    embedding_dimensions = table.Column<int>(type: "INTEGER", nullable: true),
                    created_by = table.Column<Guid>(type: "TEXT", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    updated_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_knowledge_bases", x => x.id);
                    table.ForeignKey(
                        name: "fk_knowledge_bases_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_knowledge_bases_workspaces_workspace_id",
                        column: x => x.workspace_id,
                        principalTable: "workspaces",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "knowledge_questions",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    workspace_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    text = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: false),
                    normalized = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: false),
                    top_score = table.Column<double>(type: "REAL", nullable: true),
                    answered = table.Column<bool>(type: "INTEGER", nullable: false),
                    asked_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_knowledge_questions", x => x.id);
                    table.ForeignKey(
                        name: "fk_knowledge_questions_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_knowledge_questions_workspaces_workspace_id",
                        column: x => x.workspace_id,
                        principalTable: "workspaces",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "knowledge_focus",
                columns: table => new
                {
                    workspace_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    user_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    knowledge_base_id = table.Column<Guid>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_knowledge_focus", x => new { x.workspace_id, x.user_id });
                    table.ForeignKey(
                        name: "fk_knowledge_focus_knowledge_bases_knowledge_base_id",
                        column: x => x.knowledge_base_id,
                        principalTable: "knowledge_bases",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_knowledge_focus_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_knowledge_focus_users_user_id",
                        column: x => x.user_id,
                        principalTable: "users",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_knowledge_focus_workspaces_workspace_id",
                        column: x => x.workspace_id,
                        principalTable: "workspaces",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "knowledge_sources",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    workspace_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    knowledge_base_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    title = table.Column<string>(type: "TEXT", maxLength: 500, nullable: false),
                    origin = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    file_name = table.Column<string>(type: "TEXT", maxLength: 500, nullable: true),
                    url = table.Column<string>(type: "TEXT", maxLength: 2048, nullable: true),
                    format = table.Column<string>(type: "TEXT", maxLength: 16, nullable: true),
                    content_type = table.Column<string>(type: "TEXT", maxLength: 100, nullable: true),
                    size_bytes = table.Column<long>(type: "INTEGER", nullable: false),
                    blob_key = table.Column<string>(type: "TEXT", maxLength: 300, nullable: false),
                    status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    progress = table.Column<int>(type: "INTEGER", nullable: false),
                    steps = table.Column<int>(type: "INTEGER", nullable: false),
                    attempts = table.Column<int>(type: "INTEGER", nullable: false),
                    last_error = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true),
                    page_count = table.Column<int>(type: "INTEGER", nullable: true),
                    duration_seconds = table.Column<double>(type: "REAL", nullable: true),
                    chunk_count = table.Column<int>(type: "INTEGER", nullable: false),
                    embedded_with = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    quota_counted = table.Column<bool>(type: "INTEGER", nullable: false),
                    created_by = table.Column<Guid>(type: "TEXT", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    updated_at = table.Column<long>(type: "INTEGER", nullable: false),
                    completed_at = table.Column<long>(type: "INTEGER", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_knowledge_sources", x => x.id);
                    table.ForeignKey(
                        name: "fk_knowledge_sources_knowledge_bases_knowledge_base_id",
                        column: x => x.knowledge_base_id,
                        principalTable: "knowledge_bases",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_knowledge_sources_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "knowledge_chunks",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    knowledge_base_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    source_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    ordinal = table.Column<int>(type: "INTEGER", nullable: false),
                    text = table.Column<string>(type: "TEXT", nullable: false),
                    token_count = table.Column<int>(type: "INTEGER", nullable: false),
                    page = table.Column<int>(type: "INTEGER", nullable: true),
                    heading_path = table.Column<string>(type: "TEXT", maxLength: 1000, nullable: true),
                    start_seconds = table.Column<double>(type: "REAL", nullable: true),
                    end_seconds = table.Column<double>(type: "REAL", nullable: true),
                    start_offset = table.Column<long>(type: "INTEGER", nullable: false),
                    end_offset = table.Column<long>(type: "INTEGER", nullable: false),
                    first_segment = table.Column<int>(type: "INTEGER", nullable: true),
                    last_segment = table.Column<int>(type: "INTEGER", nullable: true),
                    embedding_model = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_knowledge_chunks", x => x.id);
                    table.ForeignKey(
                        name: "fk_knowledge_chunks_knowledge_sources_source_id",
                        column: x => x.source_id,
                        principalTable: "knowledge_sources",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_knowledge_chunks_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "knowledge_citations",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    question_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    source_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    chunk_id = table.Column<long>(type: "INTEGER", nullable: false),
                    page = table.Column<int>(type: "INTEGER", nullable: true),
                    start_seconds = table.Column<double>(type: "REAL", nullable: true),
                    rank = table.Column<int>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_knowledge_citations", x => x.id);
                    table.ForeignKey(
                        name: "fk_knowledge_citations_knowledge_questions_question_id",
                        column: x => x.question_id,
                        principalTable: "knowledge_questions",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_knowledge_citations_knowledge_sources_source_id",
                        column: x => x.source_id,
                        principalTable: "knowledge_sources",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_knowledge_citations_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "transcript_segments",
                columns: table => new
                {
                    source_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    index = table.Column<int>(type: "INTEGER", nullable: false),
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    start = table.Column<double>(type: "REAL", nullable: false),
                    end = table.Column<double>(type: "REAL", nullable: false),
                    text = table.Column<string>(type: "TEXT", nullable: false),
                    words = table.Column<string>(type: "TEXT", nullable: true),
                    edited = table.Column<bool>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_transcript_segments", x => new { x.source_id, x.index });
                    table.ForeignKey(
                        name: "fk_transcript_segments_knowledge_sources_source_id",
                        column: x => x.source_id,
                        principalTable: "knowledge_sources",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_transcript_segments_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "upload_sessions",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    organization_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    workspace_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    knowledge_base_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    source_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    created_by = table.Column<Guid>(type: "TEXT", nullable: false),
                    size_bytes = table.Column<long>(type: "INTEGER", nullable: false),
                    part_bytes = table.Column<long>(type: "INTEGER", nullable: false),
                    multipart_id = table.Column<string>(type: "TEXT", maxLength: 1024, nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    expires_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_upload_sessions", x => x.id);
                    table.ForeignKey(
                        name: "fk_upload_sessions_knowledge_sources_source_id",
                        column: x => x.source_id,
                        principalTable: "knowledge_sources",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_upload_sessions_organizations_organization_id",
                        column: x => x.organization_id,
                        principalTable: "organizations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.UpdateData(
                table: "plans",
                keyColumn: "code",
                keyValue: "BASIC",
                column: "max_file_bytes",
                value: null);

            migrationBuilder.UpdateData(
                table: "plans",
                keyColumn: "code",
                keyValue: "ENTERPRISE",
                column: "max_file_bytes",
                value: null);

            migrationBuilder.UpdateData(
                table: "plans",
                keyColumn: "code",
                keyValue: "FREE",
                column: "max_file_bytes",
                value: null);

            migrationBuilder.UpdateData(
                table: "plans",
                keyColumn: "code",
                keyValue: "PRO",
                column: "max_file_bytes",
                value: null);

            migrationBuilder.CreateIndex(
                name: "ix_knowledge_bases_organization_id_workspace_id_created_at",
                table: "knowledge_bases",
                columns: new[] { "organization_id", "workspace_id", "created_at" });

            migrationBuilder.CreateIndex(
                name: "ix_knowledge_bases_workspace_id",
                table: "knowledge_bases",
                column: "workspace_id");

            migrationBuilder.CreateIndex(
                name: "ix_knowledge_chunks_organization_id_knowledge_base_id_embedding_model",
                table: "knowledge_chunks",
                columns: new[] { "organization_id", "knowledge_base_id", "embedding_model" });

            migrationBuilder.CreateIndex(
                name: "ix_knowledge_chunks_source_id_ordinal",
                table: "knowledge_chunks",
                columns: new[] { "source_id", "ordinal" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_knowledge_citations_organization_id_source_id",
                table: "knowledge_citations",
                columns: new[] { "organization_id", "source_id" });

            migrationBuilder.CreateIndex(
                name: "ix_knowledge_citations_question_id",
                table: "knowledge_citations",
                column: "question_id");

            migrationBuilder.CreateIndex(
                name: "ix_knowledge_citations_source_id",
                table: "knowledge_citations",
                column: "source_id");

            migrationBuilder.CreateIndex(
                name: "ix_knowledge_focus_knowledge_base_id",
                table: "knowledge_focus",
                column: "knowledge_base_id");

            migrationBuilder.CreateIndex(
                name: "ix_knowledge_focus_organization_id",
                table: "knowledge_focus",
                column: "organization_id");

            migrationBuilder.CreateIndex(
                name: "ix_knowledge_focus_user_id",
                table: "knowledge_focus",
                column: "user_id");

            migrationBuilder.CreateIndex(
                name: "ix_knowledge_questions_organization_id_workspace_id_asked_at",
                table: "knowledge_questions",
                columns: new[] { "organization_id", "workspace_id", "asked_at" });

            migrationBuilder.CreateIndex(
                name: "ix_knowledge_questions_workspace_id",
                table: "knowledge_questions",
                column: "workspace_id");

            migrationBuilder.CreateIndex(
                name: "ix_knowledge_sources_knowledge_base_id",
                table: "knowledge_sources",
                column: "knowledge_base_id");

            migrationBuilder.CreateIndex(
                name: "ix_knowledge_sources_organization_id_knowledge_base_id_created_at",
                table: "knowledge_sources",
                columns: new[] { "organization_id", "knowledge_base_id", "created_at" });

            migrationBuilder.CreateIndex(
                name: "ix_knowledge_sources_organization_id_workspace_id_status",
                table: "knowledge_sources",
                columns: new[] { "organization_id", "workspace_id", "status" });

            migrationBuilder.CreateIndex(
                name: "ix_transcript_segments_organization_id",
                table: "transcript_segments",
                column: "organization_id");

            migrationBuilder.CreateIndex(
                name: "ix_upload_sessions_expires_at",
                table: "upload_sessions",
                column: "expires_at");

            migrationBuilder.CreateIndex(
                name: "ix_upload_sessions_organization_id",
                table: "upload_sessions",
                column: "organization_id");

            migrationBuilder.CreateIndex(
                name: "ix_upload_sessions_source_id",
                table: "upload_sessions",
                column: "source_id");
        
            // The vector and the full-text index are outside EF's model: a float32 blob here, an FTS5 table kept by triggers.
            migrationBuilder.Sql("ALTER TABLE knowledge_chunks ADD COLUMN embedding BLOB;");
            migrationBuilder.Sql("""
                CREATE VIRTUAL TABLE knowledge_chunks_fts USING fts5(
                    text, heading_path, content='knowledge_chunks', content_rowid='id',
                    tokenize='porter unicode61 remove_diacritics 2');
                """);
            migrationBuilder.Sql("""
                CREATE TRIGGER knowledge_chunks_ai AFTER INSERT ON knowledge_chunks BEGIN
                    INSERT INTO knowledge_chunks_fts(rowid, text, heading_path) VALUES (new.id, new.text, new.heading_path);
                END;
                """);
            migrationBuilder.Sql("""
                CREATE TRIGGER knowledge_chunks_ad AFTER DELETE ON knowledge_chunks BEGIN
                    INSERT INTO knowledge_chunks_fts(knowledge_chunks_fts, rowid, text, heading_path) VALUES ('delete', old.id, old.text, old.heading_path);
                END;
                """);
            migrationBuilder.Sql("""
                CREATE TRIGGER knowledge_chunks_au AFTER UPDATE OF text, heading_path ON knowledge_chunks BEGIN
                    INSERT INTO knowledge_chunks_fts(knowledge_chunks_fts, rowid, text, heading_path) VALUES ('delete', old.id, old.text, old.heading_path);
                    INSERT INTO knowledge_chunks_fts(rowid, text, heading_path) VALUES (new.id, new.text, new.heading_path);
                END;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("DROP TRIGGER IF EXISTS knowledge_chunks_au;");
            migrationBuilder.Sql("DROP TRIGGER IF EXISTS knowledge_chunks_ad;");
            migrationBuilder.Sql("DROP TRIGGER IF EXISTS knowledge_chunks_ai;");
            migrationBuilder.Sql("DROP TABLE IF EXISTS knowledge_chunks_fts;");

            migrationBuilder.DropTable(
                name: "knowledge_chunks");

            migrationBuilder.DropTable(
                name: "knowledge_citations");

            migrationBuilder.DropTable(
                name: "knowledge_focus");

            migrationBuilder.DropTable(
                name: "transcript_segments");

            migrationBuilder.DropTable(
                name: "upload_sessions");

            migrationBuilder.DropTable(
                name: "knowledge_questions");

            migrationBuilder.DropTable(
                name: "knowledge_sources");

            migrationBuilder.DropTable(
                name: "knowledge_bases");

            migrationBuilder.DropColumn(
                name: "max_file_bytes",
                table: "plans");

            migrationBuilder.DropColumn(
                name: "knowledge_base_ids",
                table: "conversations");

            migrationBuilder.DropColumn(
                name: "citations",
                table: "chat_messages");
        }
    }
}
