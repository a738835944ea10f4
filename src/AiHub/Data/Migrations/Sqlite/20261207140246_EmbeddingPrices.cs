using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

#pragma warning disable CA1814 // Prefer jagged arrays over multidimensional

namespace AiHub.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class EmbeddingPrices : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.InsertData(
                table: "model_prices",
                columns: new[] { "model", "provider", "input_micros_per_million", "output_micros_per_million", "updated_at", "updated_by" },
                values: new object[,]
                {
                    { "text-embedding-3-large", "openai", 13000000L, 0L, 1308351135744000000L, null },
                    { "text-embedding-ada-002", "openai", 10000000L, 0L, 1308351135744000000L, null }
                });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DeleteData(
                table: "model_prices",
                keyColumns: new[] { "model", "provider" },
                keyValues: new object[] { "text-embedding-3-large", "openai" });

            migrationBuilder.DeleteData(
                table: "model_prices",
                keyColumns: new[] { "model", "provider" },
                keyValues: new object[] { "text-embedding-ada-002", "openai" });
        }
    }
}
