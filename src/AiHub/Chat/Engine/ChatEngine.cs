using AiHub.Chat.Providers;
using AiHub.Chat.Tokens;
using AiHub.Credits.Plans;
using AiHub.Credits.Pools;
using AiHub.Credits.Usage;
using AiHub.Infrastructure.Errors;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace AiHub.Chat.Engine;

/// <summary>One AI call as a feature asks for it: who pays, which model, the messages (system prompt included) and limits.</summary>
/// <param name="CallId">The call's idempotency key (e.g. <c>chat:{assistantMessageId}</c>): the quota, the hold and the usage record carry it.</param>
/// <param name="CountsQuestion">Whether the call counts against the plan's chat questions (side calls such as titles do not).</param>
/// <param name="Tools">Tools offered to the model; used only when the model can call tools.</param>
/// <param name="Provider">Only models of this provider family may answer, fallbacks included; null lets the router choose.</param>
internal sealed record ChatRun(
    Spender Spender,
    string? Model,
    IReadOnlyList<ChatMessage> Messages,
    string CallId,
    int? MaxOutputTokens = null,
    float? Temperature = null,
    bool CountsQuestion = true,
    IReadOnlyList<AITool>? Tools = null,
    ProviderChoice? Provider = null);

/// <summary>
/// Runs AI calls for chat, the WebSocket and the OpenAI-compatible API: checks the quota, holds the most the call can
/// cost, streams from the first model of the chain that answers, and settles exactly what was delivered.
/// </summary>
/// <remarks>
/// <see cref="StartAsync"/> does everything that can refuse the call (route, quota, credits) before anything is sent,
/// so an HTTP caller can still answer with a status; the returned <see cref="ChatCall"/> then always settles or
/// releases its hold, whatever happens to the stream.
/// </remarks>
internal sealed class ChatEngine(
    IModelRouter router,
    IServiceScopeFactory scopes,
    UsageMeter meter,
    TokenCounter tokens,
    IOptions<ChatSettings> settings,
    TimeProvider clock,
    ILogger<ChatEngine> log)
{
    /// <summary>What an answer may use when the caller sets no limit: enough for a long answer, small enough to hold.</summary>
    public const int DefaultMaxOutputTokens = 4096;

    public const int MaxOutputTokensLimit = 128_000;

    public async Task<ChatCall> StartAsync(ChatRun run, CancellationToken ct)
    {
        Validate(run);
        var routed = await router.RouteAsync(run.Spender.OrganizationId, run.Model, run.Provider, ct);
        // Models of one family share a tokenizer, so the history is counted once per encoding, not once per model.
        var counted = new Dictionary<string, int>();
        int InputOf(string model)
        {
            var encoding = TokenCounter.Encoding(model);
            if (!counted.TryGetValue(encoding, out var n))
                counted[encoding] = n = tokens.Count(model, run.Messages);
            return n;
        }

        var first = routed[0];
        var input = InputOf(first.Model);
        if (input >= first.ContextLength)
            throw new ProblemException(StatusCodes.Status400BadRequest, "The conversation is too long for this model.",
                $"It is about {input:N0} tokens and {first.DisplayName} reads at most {first.ContextLength:N0}. Start a new conversation or pick a model with a longer context.",
                ProblemTypes.ContextTooLong);
        var maxOutput = (int)Math.Min(run.MaxOutputTokens ?? DefaultMaxOutputTokens, Math.Max(1, first.ContextLength - input));

        // Every model of the chain may end up answering, so the hold covers the dearest; a fallback nobody priced is left out.
        var targets = new List<PricedTarget>();
        foreach (var target in routed)
        {
            var price = target.Price;
            if (price is null && targets.Count == 0)
                throw PriceCatalog.NotPriced(target.Provider, target.Model);
            if (price is null)
            {
                log.LogWarning("Fallback {Provider}/{Model} has no price and is skipped.", target.Provider, target.Model);
                continue;
            }
            targets.Add(new PricedTarget(target, price, InputOf(target.Model)));
        }
        var most = targets.Max(t => t.Cost(t.EstimatedInput, maxOutput));

        // The call's quota and credit work has a unit of work of its own: the ledger clears its unit of work, which must not be the caller's.
        var scope = scopes.CreateAsyncScope();
        try
        {
            var quotas = scope.ServiceProvider.GetRequiredService<IQuotaService>();
            var gate = scope.ServiceProvider.GetRequiredService<CreditGate>();
            // The question's quota use is a leg of the hold: they commit together, and voiding the hold gives both back.
            var hold = await gate.HoldAsync(run.Spender, most, run.CallId, run.CountsQuestion ? QuotaKind.ChatQuestions : null, ct);
            return new ChatCall(this, scope, quotas, gate, run, targets, hold, maxOutput);
        }
        catch
        {
            await scope.DisposeAsync();
            throw;
        }
    }

    static void Validate(ChatRun run)
    {
        if (run.Messages.Count == 0 || run.Messages.All(m => m.Role == ChatRole.System))
            throw ProblemException.Invalid("messages", "Send at least one message that is not a system message.");
        if (run.MaxOutputTokens is < 1 or > MaxOutputTokensLimit)
            throw ProblemException.Invalid("maxTokens", $"maxTokens is between 1 and {MaxOutputTokensLimit:N0}.");
        if (run.Temperature is < 0 or > 2 || run.Temperature is float t && float.IsNaN(t))
            throw ProblemException.Invalid("temperature", "temperature is between 0 and 2.");
    }

    /// <param name="EstimatedInput">The history's tokens by this model's tokenizer.</param>
    internal sealed record PricedTarget(ModelTarget Target, ModelRate Price, int EstimatedInput)
    {
        public long Cost(long input, long output) => PriceCatalog.Cost(input, output, Price.InputMicrosPerMillion, Price.OutputMicrosPerMillion);
    }

    internal UsageMeter Meter => meter;
    internal TokenCounter Tokens => tokens;
    internal ChatTimeoutSettings Timeouts => settings.Value.Timeouts;
    internal TimeProvider Clock => clock;
    internal ILogger Log => log;
}
