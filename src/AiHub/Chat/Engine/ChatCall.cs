using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using AiHub.Chat.Tokens;
using AiHub.Credits.Plans;
using AiHub.Credits.Pools;
using AiHub.Credits.Usage;
using AiHub.Infrastructure.Errors;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.AI;

namespace AiHub.Chat.Engine;

/// <summary>
/// One started AI call: its quota is counted and its credits held. Stream it once with <see cref="StreamAsync"/>;
/// its hold is settled or released when the stream ends, or by <see cref="DisposeAsync"/> if it never runs.
/// </summary>
internal sealed class ChatCall : IAsyncDisposable
{
    readonly ChatEngine _engine;
    readonly AsyncServiceScope _scope;
    readonly IQuotaService _quotas;
    readonly CreditGate _gate;
    readonly ChatRun _run;
    readonly IReadOnlyList<ChatEngine.PricedTarget> _targets;
    readonly CreditHold _hold;
    readonly int _maxOutput;
    readonly Dictionary<string, string> _toolNames = [];
    int _closed;
    long _outputSoFar;

    internal ChatCall(ChatEngine engine, AsyncServiceScope scope, IQuotaService quotas, CreditGate gate, ChatRun run,
        IReadOnlyList<ChatEngine.PricedTarget> targets, CreditHold hold, int maxOutput)
    {
        _engine = engine;
        _scope = scope;
        _quotas = quotas;
        _gate = gate;
        _run = run;
        _targets = targets;
        _hold = hold;
        _maxOutput = maxOutput;
    }

    /// <summary>The model asked for first (the one that answers unless it fails before its first token).</summary>
    public ModelTarget FirstTarget => _targets[0].Target;

    /// <summary>
    /// Streams the answer. Ends with <see cref="ChatUsage"/> and <see cref="ChatDone"/>, always; a model that fails
    /// before anything reached the caller is replaced by the next of the chain, one that fails after is the end.
    /// </summary>
    public async IAsyncEnumerable<ChatEvent> StreamAsync([EnumeratorCancellation] CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var text = new StringBuilder();
        var delivered = false;
        var outcome = ChatOutcome.Failed;
        string? finish = null;
        UsageDetails? usage = null;
        Exception? failure = null;
        ChatEngine.PricedTarget? answering = null;
        ModelTarget? failed = null;
        var timeouts = _engine.Timeouts;
        var ran = false;
        var capped = false;

        try
        {
            foreach (var candidate in _targets)
            {
                if (ct.IsCancellationRequested)
                    break;
                var target = candidate.Target;
                var options = new ChatOptions
                {
                    ModelId = target.Model,
                    MaxOutputTokens = _maxOutput,
                    Temperature = _run.Temperature,
                    Tools = target.Capabilities.HasFlag(ModelCapabilities.Tools) && _run.Tools is { Count: > 0 } tools ? [.. tools] : null,
                };
                using var watch = CancellationTokenSource.CreateLinkedTokenSource(ct);
                watch.CancelAfter(timeouts.FirstToken);
                var attemptFinish = (string?)null;
                failure = null;

                IAsyncEnumerator<ChatResponseUpdate>? updates = null;
                try
                {
                    updates = target.Client.GetStreamingResponseAsync(_run.Messages, options, watch.Token).GetAsyncEnumerator(watch.Token);
                    while (true)
                    {
                        ChatResponseUpdate update;
                        try
                        {
                            if (!await updates.MoveNextAsync())
                                break;
                            update = updates.Current;
                        }
                        catch (OperationCanceledException) when (ct.IsCancellationRequested)
                        {
                            break;
                        }
                        catch (OperationCanceledException) when (watch.IsCancellationRequested)
                        {
                            failure = new TimeoutException(delivered
                                ? $"{target.DisplayName} sent nothing for {timeouts.Idle.TotalSeconds:0} s."
                                : $"{target.DisplayName} did not begin its answer within {timeouts.FirstToken.TotalSeconds:0} s.");
                            break;
                        }
                        catch (Exception e) when (e is not OperationCanceledException)
                        {
                            failure = e;
                            break;
                        }

                        foreach (var content in update.Contents)
                        {
                            ChatEvent? next = null;
                            switch (content)
                            {
                                case TextContent { Text.Length: > 0 } t:
                                    var allowed = WithinCap(target.Model, text, t.Text);
                                    capped = allowed.Length < t.Text.Length;
                                    if (allowed.Length == 0)
                                        break;
                                    text.Append(allowed);
                                    next = new ChatDelta(allowed);
                                    break;
                                case FunctionCallContent call:
                                    _toolNames[call.CallId] = call.Name;
                                    next = new ChatToolCall(call.CallId, call.Name, Json(call.Arguments));
                                    break;
                                case FunctionResultContent result:
                                    next = new ChatToolResult(result.CallId, _toolNames.GetValueOrDefault(result.CallId, ""), Json(result.Result));
                                    break;
                                case UsageContent u:
                                    usage = Add(usage, u.Details);
                                    break;
                            }
                            if (next is null)
                            {
                                if (capped)
                                    break;
                                continue;
                            }
                            // Only a model that delivers nothing is replaced, so the first event of an attempt names the model that answers.
                            if (answering is null)
                            {
                                answering = candidate;
                                yield return new ChatAnswering(target.Provider, target.Model);
                            }
                            delivered = true;
                            // Text after a tool round means the model goes on: an earlier "tool_calls" finish was not the end.
                            attemptFinish = null;
                            watch.CancelAfter(timeouts.Idle);
                            yield return next;
                            if (capped)
                                break;
                        }
                        if (capped)
                        {
                            // A server that ignores the maximum would stream on at the payer's cost: the upstream call ends here.
                            await watch.CancelAsync();
                            break;
                        }
                        if (update.FinishReason is { } reason)
                            attemptFinish = reason.Value;
                    }
                }
                finally
                {
                    if (updates is not null)
                        await DisposeQuietlyAsync(updates);
                }

                if (ct.IsCancellationRequested)
                {
                    outcome = ChatOutcome.Cancelled;
                    break;
                }
                if (capped)
                {
                    _engine.Log.LogWarning("{Provider}/{Model} streamed past the {Max} output tokens asked for; the answer was cut there.",
                        target.Provider, target.Model, _maxOutput);
                    outcome = ChatOutcome.Incomplete;
                    finish = ChatFinishReason.Length.Value;
                    failure = null;
                    break;
                }
                if (failure is null && attemptFinish is not null && attemptFinish != ChatFinishReason.ToolCalls.Value)
                {
                    outcome = ChatOutcome.Complete;
                    finish = attemptFinish;
                    answering ??= candidate;
                    break;
                }
                failure ??= new IncompleteStreamException($"{target.DisplayName}'s answer ended without a finish reason: the stream was cut.");
                failed = target;
                _engine.Log.LogWarning("{Provider}/{Model} failed {When}: {Reason}", target.Provider, target.Model,
                    delivered ? "mid-answer" : "before its first token", failure.GetType().Name);
                if (delivered)
                {
                    outcome = ChatOutcome.Incomplete;
                    break;
                }
                // Nothing reached the caller: the next model of the chain answers instead, and this attempt costs nothing.
                usage = null;
            }
            ran = true;
        }
        finally
        {
            // A caller that stops reading early (or a failure outside the stream) still closes the hold, by the same rules.
            if (!ran)
                await CloseAsync(answering is null ? ChatOutcome.Failed : ChatOutcome.Cancelled, answering, text.ToString(), usage,
                    (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        var latency = (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var settled = await CloseAsync(outcome, answering, text.ToString(), usage, latency);
        yield return settled.Usage;
        var error = outcome switch
        {
            ChatOutcome.Failed => Problem(StatusCodes.Status502BadGateway, "No model could answer.", Describe(failure, failed), ProblemTypes.ProviderFailed),
            ChatOutcome.Incomplete when !capped => Problem(StatusCodes.Status502BadGateway, "The answer was cut short.",
                $"{Describe(failure, failed)} What arrived is kept and only that is charged.", ProblemTypes.StreamIncomplete),
            _ => null,
        };
        yield return new ChatDone(outcome, finish, answering?.Target.Provider, answering?.Target.Model, text.ToString(), settled.CostMicros, settled.Remaining, error);
    }

    /// <summary>Settles what was delivered (or releases everything when nothing was), records usage, and reads the quota left.</summary>
    async Task<(ChatUsage Usage, long CostMicros, QuotaStatus? Remaining)> CloseAsync(
        ChatOutcome outcome, ChatEngine.PricedTarget? answering, string text, UsageDetails? usage, long latencyMs)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
            throw new InvalidOperationException("A chat call is streamed once.");
        if (answering is null || outcome == ChatOutcome.Failed)
        {
            await GiveBackAsync();
            await RecordAsync(_targets[0].Target, 0, 0, latencyMs, UsageStatus.Failed, 0);
            return (new ChatUsage(0, 0, false, 0, 0), 0, await RemainingAsync());
        }

        var model = answering.Target.Model;
        var estimatedInput = answering.EstimatedInput;
        var estimatedOutput = _engine.Tokens.Count(model, text);
        // A provider's counts are believed only when they are plausible: a negative or absurd count falls back to ours.
        var reportedInput = Plausible(usage?.InputTokenCount);
        var reportedOutput = Plausible(usage?.OutputTokenCount);
        var reported = reportedInput is not null && reportedOutput is not null;
        var input = reportedInput ?? estimatedInput;
        // A cut or stopped answer is charged for what reached the caller, whatever the provider counted.
        var output = outcome == ChatOutcome.Complete ? reportedOutput ?? estimatedOutput : estimatedOutput;
        var cost = answering.Cost(input, output);
        if (cost > _hold.AmountMicros)
            _engine.Log.LogWarning("{Provider}/{Model} cost {Cost} µcr, more than the {Held} held; the hold is charged.", answering.Target.Provider, model, cost, _hold.AmountMicros);
        var charged = Math.Min(cost, _hold.AmountMicros);
        await _gate.SettleAsync(_hold, charged, CancellationToken.None);
        await RecordAsync(answering.Target, input, output, latencyMs,
            outcome switch { ChatOutcome.Complete => UsageStatus.Succeeded, ChatOutcome.Cancelled => UsageStatus.Cancelled, _ => UsageStatus.Incomplete }, charged);
        return (new ChatUsage(input, output, reported, estimatedInput, estimatedOutput), charged, await RemainingAsync());
    }

    Task<UsageRecord> RecordAsync(ModelTarget target, long input, long output, long latencyMs, UsageStatus status, long cost) =>
        _engine.Meter.RecordAsync(new UsageEntry(_run.CallId, _run.Spender.OrganizationId, _run.Spender.UserId, target.Provider, target.Model,
            input, output, latencyMs, status, _run.Spender.ApiKeyId, _run.Spender.WorkspaceId, _hold.Id, CostMicros: cost), CancellationToken.None);

    /// <summary>A call that was started but never streamed gives its credits and its question back.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
            await GiveBackAsync();
        await _scope.DisposeAsync();
    }

    /// <summary>Frees the hold and uncounts the question: nothing was answered.</summary>
    async Task GiveBackAsync()
    {
        await _gate.ReleaseAsync(_hold, CancellationToken.None);
    }

    async Task<QuotaStatus?> RemainingAsync() =>
        _run.CountsQuestion ? await _quotas.GetAsync(_run.Spender.OrganizationId, QuotaKind.ChatQuestions, CancellationToken.None) : null;


    static string Json(object? value) => value switch
    {
        null => "null",
        string s => s,
        // A tool that returns text comes back from function invocation as a JSON string: show the text, not its quoting.
        JsonElement { ValueKind: JsonValueKind.String } s => s.GetString()!,
        _ => JsonSerializer.Serialize(value, AIJsonUtilities.DefaultOptions),
    };

    static long? Plausible(long? tokens) => tokens is >= 0 and <= int.MaxValue ? tokens : null;

    /// <summary>
    /// The part of <paramref name="delta"/> that keeps the answer within the output tokens held for; all of it until the
    /// cap. Counted by our tokenizer, so a server that ignores the maximum cannot stream past what the hold covers.
    /// </summary>
    string WithinCap(string model, StringBuilder text, string delta)
    {
        // Where our count only estimates the model's, a margin keeps an answer the provider itself capped from being cut early; the hold still bounds the charge.
        var cap = TokenCounter.IsExact(model) ? _maxOutput : _maxOutput + _maxOutput / 4 + 8;
        // Each delta's own count bounds the answer's from above closely enough; the exact count runs only near the cap.
        _outputSoFar += _engine.Tokens.Count(model, delta);
        if (_outputSoFar <= cap)
            return delta;
        var answer = text.ToString() + delta;
        _outputSoFar = _engine.Tokens.Count(model, answer);
        if (_outputSoFar <= cap)
            return delta;
        var end = _engine.Tokens.IndexAtTokenCount(model, answer, cap);
        return end <= text.Length ? "" : answer[text.Length..end];
    }

    static UsageDetails Add(UsageDetails? total, UsageDetails next)
    {
        if (total is null)
            return new UsageDetails { InputTokenCount = next.InputTokenCount, OutputTokenCount = next.OutputTokenCount, TotalTokenCount = next.TotalTokenCount };
        total.Add(next);
        return total;
    }

    static async ValueTask DisposeQuietlyAsync(IAsyncEnumerator<ChatResponseUpdate> updates)
    {
        try
        {
            await updates.DisposeAsync();
        }
        catch (Exception)
        {
            // A broken connection can throw again while it is torn down; the call's outcome is already decided.
        }
    }

    static string Describe(Exception? failure, ModelTarget? target) => failure switch
    {
        null => "The provider did not answer.",
        TimeoutException or IncompleteStreamException => failure.Message,
        // An org's provider URL could point anywhere: what its server answered, or whether it listens, is not for the tenant to read.
        _ when target is { TenantSupplied: true } => Answered(failure) ? "The provider refused the request." : "The provider could not be reached.",
        HttpRequestException { StatusCode: { } status } => $"The provider answered {(int)status} ({status}).",
        System.ClientModel.ClientResultException { Status: > 0 } e => $"The provider answered {e.Status}.",
        Polly.CircuitBreaker.BrokenCircuitException => "The provider failed repeatedly and is paused for a moment.",
        _ => $"The provider failed ({failure.GetType().Name}).",
    };

    static bool Answered(Exception failure) => failure is HttpRequestException { StatusCode: not null } or System.ClientModel.ClientResultException { Status: > 0 }
        || (failure.InnerException is { } inner && Answered(inner));

    static ProblemDetails Problem(int status, string title, string detail, string type) =>
        new() { Status = status, Title = title, Detail = detail, Type = type };
}

/// <summary>A stream that ended without saying it was finished: a dropped connection or a cut body.</summary>
internal sealed class IncompleteStreamException(string message) : Exception(message);
