using System.Diagnostics;
using System.Text.Json;
using AiHub.Infrastructure.Audit;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace AiHub.Mcp.Server;

internal static class McpAuditKinds
{
    public const string ToolCalled = "mcp.tool_called";
    public const string ResourceRead = "mcp.resource_read";
    public const string PromptUsed = "mcp.prompt_used";
}

/// <summary>
/// Wraps every tool call, resource read and prompt on <c>/mcp</c>: the caller's rate limit, the argument checks, the
/// time limit, problems turned into errors the client's model can read, and one entry in the org's activity feed.
/// </summary>
/// <remarks>Registered as the SDK's request filters, so no tool, resource or prompt can skip it.</remarks>
internal sealed class McpActivity(
    McpCallers callers, RateCounter rates, IServiceScopeFactory scopes, IOptions<McpServerSettings> settings, TimeProvider clock)
{
    const int MaxNameLength = 200;

    public static void AddFilters(IMcpRequestFilterBuilder filters)
    {
        filters.AddCallToolFilter(next => (request, ct) => Of(request.Services).CallToolAsync(request, next, ct));
        filters.AddReadResourceFilter(next => (request, ct) =>
            Of(request.Services).RunAsync(McpAuditKinds.ResourceRead, "resource", request.Params?.Uri, null, 0, token => next(request, token), ct));
        filters.AddGetPromptFilter(next => (request, ct) =>
            Of(request.Services).RunAsync(McpAuditKinds.PromptUsed, "prompt", request.Params?.Name, WorkspaceOf(request.Params?.Arguments),
                Size(request.Params?.Arguments), token => next(request, token), ct));
    }

    static McpActivity Of(IServiceProvider? services) =>
        (services ?? throw new McpException("This server is reached over HTTP only.")).GetRequiredService<McpActivity>();

    ValueTask<CallToolResult> CallToolAsync(RequestContext<CallToolRequestParams> request, McpRequestHandler<CallToolRequestParams, CallToolResult> next, CancellationToken ct)
    {
        var arguments = request.Params?.Arguments;
        var size = Size(arguments);
        return RunAsync(McpAuditKinds.ToolCalled, "tool", request.Params?.Name, WorkspaceOf(arguments), size, token =>
        {
            // Checked before the tool runs: an argument that cannot be used must not reach a model or the ledger.
            var limit = settings.Value.MaxArgumentBytes;
            if (size > limit)
                throw new McpException($"The arguments are {size / 1024:N0} KB; a tool call takes at most {limit / 1024:N0} KB. Send less text, or split it over several calls.");
            if (request.MatchedPrimitive is McpServerTool tool && ToolArguments.Mistake(tool.ProtocolTool.InputSchema, arguments) is { } mistake)
                throw new McpException(mistake);
            return next(request, token);
        }, ct);
    }

    /// <summary>Runs one operation for the current caller within the limits, and records it whatever its outcome.</summary>
    async ValueTask<T> RunAsync<T>(string kind, string subject, string? name, Guid? workspaceId, long argumentBytes,
        Func<CancellationToken, ValueTask<T>> operation, CancellationToken ct)
    {
        var caller = await callers.CurrentAsync(ct);
        var started = Stopwatch.GetTimestamp();
        var outcome = "error";
        string? reason = null;
        try
        {
            await LimitAsync(caller, ct);
            var timeout = settings.Value.ToolTimeout;
            using var timer = new CancellationTokenSource(timeout, clock);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timer.Token);
            try
            {
                var result = await operation(linked.Token);
                outcome = result is CallToolResult { IsError: true } ? "error" : "ok";
                return result;
            }
            catch (OperationCanceledException) when (timer.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                reason = "timeout";
                throw new McpException($"The {subject} took longer than {timeout.TotalSeconds:0} s and was stopped. Anything a model had already answered is charged, nothing more.");
            }
        }
        catch (ProblemException e)
        {
            reason = e.Title;
            throw new McpException(e.Detail is { Length: > 0 } detail && detail != e.Title ? $"{e.Title} {detail}" : e.Title, e);
        }
        catch (McpProtocolException e)
        {
            // The SDK's own refusals (an unknown tool, resource or prompt) stay JSON-RPC errors.
            reason = e.ErrorCode.ToString();
            throw;
        }
        catch (JsonException e)
        {
            reason = "invalid_arguments";
            throw new McpException($"An argument could not be read: {e.Message}", e);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            outcome = "cancelled";
            throw;
        }
        catch (McpException)
        {
            reason ??= "refused";
            throw;
        }
        finally
        {
            await RecordAsync(kind, subject, name, caller, workspaceId, argumentBytes, outcome, reason,
                (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    /// <summary>Counts the call against the caller's minute; over the limit it is refused before anything runs.</summary>
    async Task LimitAsync(McpCaller caller, CancellationToken ct)
    {
        var limit = settings.Value.CallsPerMinute;
        var who = caller.ApiKeyId?.ToString("N") ?? caller.AuthorizationId ?? $"{caller.OrganizationId:N}:{caller.UserId:N}";
        if (await rates.HitAsync($"mcp:{who}", limit, TimeSpan.FromMinutes(1), ct) is { } wait)
            throw new ProblemException(StatusCodes.Status429TooManyRequests, "Too many calls.",
                $"This connection may make {limit} calls a minute; try again in {Math.Ceiling(wait.TotalSeconds)} seconds.", ProblemTypes.RateLimited);
    }

    /// <remarks>
    /// Its own unit of work, so that nothing a failed operation left unsaved is saved with it. Arguments may be private:
    /// only their size is kept.
    /// </remarks>
    async Task RecordAsync(string kind, string subject, string? name, McpCaller caller, Guid? workspaceId, long argumentBytes,
        string outcome, string? reason, long durationMs)
    {
        await using var scope = scopes.CreateAsyncScope();
        var audit = scope.ServiceProvider.GetRequiredService<AuditLog>();
        var shortName = name is null ? null : name.Length <= MaxNameLength ? name : name[..MaxNameLength];
        audit.Add(kind, caller.UserId, new Dictionary<string, object?>
        {
            [subject] = shortName,
            ["outcome"] = outcome,
            ["reason"] = reason,
            ["durationMs"] = durationMs,
            ["argumentBytes"] = argumentBytes,
            ["apiKeyId"] = caller.ApiKeyId,
            ["clientId"] = caller.ClientId,
            ["workspaceId"] = workspaceId ?? caller.WorkspaceId,
        }, organizationId: caller.OrganizationId);
        await scope.ServiceProvider.GetRequiredService<Data.AppDbContext>().SaveChangesAsync(CancellationToken.None);
    }

    static long Size<T>(IDictionary<string, T>? arguments) =>
        arguments is null ? 0 : JsonSerializer.SerializeToUtf8Bytes(arguments).LongLength;

    /// <summary>The workspace an operation names, for the feed; an id that is not one is left out.</summary>
    static Guid? WorkspaceOf<T>(IDictionary<string, T>? arguments) =>
        arguments is not null && arguments.TryGetValue("workspaceId", out var value)
        && (value is JsonElement { ValueKind: JsonValueKind.String } e ? e.GetString() : value?.ToString()) is { } text && Guid.TryParse(text, out var id)
            ? id
            : null;
}
