using AiHub.Admin;
using AiHub.Billing;
using AiHub.Chat;
using AiHub.Components;
using AiHub.Credits;
using AiHub.Data;
using AiHub.Gateway;
using AiHub.Generation;
using AiHub.Identity;
using AiHub.Infrastructure;
using AiHub.Infrastructure.Hosting;
using AiHub.Infrastructure.Jobs;
using AiHub.Knowledge;
using AiHub.Mcp;
using AiHub.Notifications;
using AiHub.Organizations;

var builder = WebApplication.CreateBuilder(args);
builder.AddInfrastructure();      // configuration, logs, telemetry, ProblemDetails, health, OpenAPI
builder.AddData();                // AppDbContext on SQLite or PostgreSQL, migrations
builder.AddJobs();                // Hangfire, durable work items, recovery
builder.AddNotifications();       // email over SMTP or a pickup directory, Razor templates
builder.AddAdmin();               // append-only audit log
builder.AddIdentityFeature();     // accounts, cookies and tokens, OAuth/OIDC, 2FA, roles and permissions
builder.AddOrganizations();       // orgs, members, invitations, workspaces, teams, API keys; the tenancy fence
builder.AddCredits();             // the credit ledger: reserve, settle, release
builder.AddChat();                // providers, models, conversations, streaming chat, tools
builder.AddKnowledge();           // knowledge bases: uploads, ingestion, transcripts, hybrid search, citations
builder.AddGeneration();          // image and video generation jobs, credit-metered, with a gallery
builder.AddGateway();             // the OpenAI- and Anthropic-compatible /v1 API
builder.AddBilling();             // Stripe and eWAY: plan subscriptions, credit packages, invoices, exactly-once webhooks
builder.AddMcpFeature();          // the MCP server at /mcp (API keys, OAuth 2.1) and remote MCP servers as chat tools
builder.AddWebUi();               // Blazor + MudBlazor shell

var app = builder.Build();
app.UseInfrastructure();
app.MapInfrastructureEndpoints();
app.MapIdentityEndpoints();
app.MapOrganizationEndpoints();
app.MapCreditEndpoints();
app.MapChatEndpoints();
app.MapKnowledgeEndpoints();
app.MapGenerationEndpoints();
app.MapGatewayEndpoints();
app.MapBillingEndpoints();
app.MapMcpEndpoints();
app.MapAdminEndpoints();
app.MapWebUi();

return await app.RunAiHubAsync(args);   // `serve` (default), `migrate` or `create-admin`

public partial class Program;
