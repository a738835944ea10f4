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
        var state = new StreamState();
        var ran = false;
        try
        {
            foreach (var candidate in _targets)
            {
                if (ct.IsCancellationRequested)
                    break;
                await foreach (var e in AttemptAsync(candidate, state, ct))
                    yield return e;
                if (Ends(candidate, state, ct))
                    break;
            }
            ran = true;
        }
        finally
        {
            // A caller that stops reading early (or a failure outside the stream) still closes the hold, by the same rules.
            if (!ran)
                await CloseAsync(state.Answering is null ? ChatOutcome.Failed : ChatOutcome.Cancelled, state.Answering, state.Text.ToString(), state.Usage,
                    (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        var latency = (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var settled = await CloseAsync(state.Outcome, state.Answering, state.Text.ToString(), state.Usage, latency);
        yield return settled.Usage;
        yield return new ChatDone(state.Outcome, state.Finish, state.Answering?.Target.Provider, state.Answering?.Target.Model, state.Text.ToString(),
            settled.CostMicros, settled.Remaining, ErrorOf(state));
    }

    /// <summary>What one stream has seen so far, across the models of the chain it tried.</summary>
    sealed class StreamState
    {
        public StringBuilder Text { get; } = new();
        public bool Delivered { get; set; }
        public bool Capped { get; set; }
        public ChatOutcome Outcome { get; set; } = ChatOutcome.Failed;
        public string? Finish { get; set; }
        public string? AttemptFinish { get; set; }
        public UsageDetails? Usage { get; set; }
        public Exception? Failure { get; set; }
        public ChatEngine.PricedTarget? Answering { get; set; }
        public ModelTarget? Failed { get; set; }
    }

    /// <summary>
    /// One model's attempt: streams its events until it finishes, fails, goes quiet or reaches the cap. The first-token
    /// and idle timeouts run on the engine's clock.
    /// </summary>
    async IAsyncEnumerable<ChatEvent> AttemptAsync(ChatEngine.PricedTarget candidate, StreamState state, [EnumeratorCancellation] CancellationToken ct)
    {
        var target = candidate.Target;
        var timeouts = _engine.Timeouts;
        using var timer = new CancellationTokenSource(timeouts.FirstToken, _engine.Clock);
        using var watch = CancellationTokenSource.CreateLinkedTokenSource(ct, timer.Token);
        state.AttemptFinish = null;
        state.Failure = null;

        IAsyncEnumerator<ChatResponseUpdate>? updates = null;
        try
        {
            updates = target.Client.GetStreamingResponseAsync(_run.Messages, OptionsFor(target), watch.Token).GetAsyncEnumerator(watch.Token);
            while (await NextAsync(updates, target, state, watch, ct) is { } update)
            {
                foreach (var next in EventsOf(update, target.Model, state))
                {
                    // Only a model that delivers nothing is replaced, so the first event of an attempt names the model that answers.
                    if (state.Answering is null)
                    {
                        state.Answering = candidate;
                        yield return new ChatAnswering(target.Provider, target.Model);
                    }
                    state.Delivered = true;
                    // Text after a tool round means the model goes on: an earlier "tool_calls" finish was not the end.
                    state.AttemptFinish = null;
                    timer.CancelAfter(timeouts.Idle);
                    yield return next;
                }
                if (state.Capped)
                {
                    // A server that ignores the maximum would stream on at the payer's cost: the upstream call ends here.
                    await watch.CancelAsync();
                    break;
                }
                if (update.FinishReason is { } reason)
                    state.AttemptFinish = reason.Value;
            }
        }
        finally
        {
            if (updates is not null)
                await DisposeQuietlyAsync(updates);
        }
    }

    ChatOptions OptionsFor(ModelTarget target) => new()
    {
        ModelId = target.Model,
        MaxOutputTokens = _maxOutput,
        Temperature = _run.Temperature,
        Tools = target.Capabilities.HasFlag(ModelCapabilities.Tools) && _run.Tools is { Count: > 0 } tools ? [.. tools] : null,
    };

    /// <summary>The next update, or null when the attempt ends: finished, stopped by the caller, timed out or failed (then <see cref="StreamState.Failure"/> says why).</summary>
    async Task<ChatResponseUpdate?> NextAsync(IAsyncEnumerator<ChatResponseUpdate> updates, ModelTarget target, StreamState state,
        CancellationTokenSource watch, CancellationToken ct)
    {
        try
        {
            return await updates.MoveNextAsync() ? updates.Current : null;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return null;
        }
        catch (OperationCanceledException) when (watch.IsCancellationRequested)
        {
            var timeouts = _engine.Timeouts;
            state.Failure = new TimeoutException(state.Delivered
                ? $"{target.DisplayName} sent nothing for {timeouts.Idle.TotalSeconds:0} s."
                : $"{target.DisplayName} did not begin its answer within {timeouts.FirstToken.TotalSeconds:0} s.");
            return null;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            state.Failure = e;
            return null;
        }
    }

    /// <summary>The events one update carries for the caller; text is cut at the output cap, after which nothing more is sent.</summary>
    IEnumerable<ChatEvent> EventsOf(ChatResponseUpdate update, string model, StreamState state)
    {
        foreach (var content in update.Contents)
        {
            ChatEvent? next = null;
            switch (content)
            {
                case TextContent { Text.Length: > 0 } t:
                    var allowed = WithinCap(model, state.Text, t.Text);
                    state.Capped = allowed.Length < t.Text.Length;
                    if (allowed.Length == 0)
                        break;
                    state.Text.Append(allowed);
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
                    state.Usage = Add(state.Usage, u.Details);
                    break;
            }
            if (next is not null)
                yield return next;
            if (state.Capped)
                yield break;
        }
    }

    /// <summary>Whether the stream ends with this attempt; when it does not, the next model of the chain answers instead.</summary>
    bool Ends(ChatEngine.PricedTarget candidate, StreamState state, CancellationToken ct)
    {
        var target = candidate.Target;
        if (ct.IsCancellationRequested)
        {
            state.Outcome = ChatOutcome.Cancelled;
            return true;
        }
        if (state.Capped)
        {
            _engine.Log.LogWarning("{Provider}/{Model} streamed past the {Max} output tokens asked for; the answer was cut there.",
                target.Provider, target.Model, _maxOutput);
            state.Outcome = ChatOutcome.Incomplete;
            state.Finish = ChatFinishReason.Length.Value;
            state.Failure = null;
            return true;
        }
        if (state.Failure is null && state.AttemptFinish is not null && state.AttemptFinish != ChatFinishReason.ToolCalls.Value)
        {
            state.Outcome = ChatOutcome.Complete;
            state.Finish = state.AttemptFinish;
            state.Answering ??= candidate;
            return true;
        }
        state.Failure ??= new IncompleteStreamException($"{target.DisplayName}'s answer ended without a finish reason: the stream was cut.");
        state.Failed = target;
        _engine.Log.LogWarning("{Provider}/{Model} failed {When}: {Reason}", target.Provider, target.Model,
            state.Delivered ? "mid-answer" : "before its first token", state.Failure.GetType().Name);
        if (state.Delivered)
        {
            state.Outcome = ChatOutcome.Incomplete;
            return true;
        }
        // Nothing reached the caller: the next model of the chain answers instead, and this attempt costs nothing.
        state.Usage = null;
        return false;
    }

    static ProblemDetails? ErrorOf(StreamState state) => state.Outcome switch
    {
        ChatOutcome.Failed => Problem(StatusCodes.Status502BadGateway, "No model could answer.", Describe(state.Failure, state.Failed), ProblemTypes.ProviderFailed),
        ChatOutcome.Incomplete when !state.Capped => Problem(StatusCodes.Status502BadGateway, "The answer was cut short.",
            $"{Describe(state.Failure, state.Failed)} What arrived is kept and only that is charged.", ProblemTypes.StreamIncomplete),
        _ => null,
    };

    /// <summary>Settles what was delivered (or releases everything when nothing was), records usage, and reads the quota left.</summary>
    async Task<(ChatUsage Usage, long CostMicros, QuotaStatus? Remaining)> CloseAsync(
        ChatOutcome outcome, ChatEngine.PricedTarget? answering, string text, UsageDetails? usage, long latencyMs)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
            throw new InvalidOperationException("A chat call is streamed once.");
        if (answering is null || outcome == ChatOutcome.Failed)
        {
            var left = await PayAsync(null);
            await RecordAsync(_targets[0].Target, 0, 0, latencyMs, UsageStatus.Failed, 0);
            return (new ChatUsage(0, 0, false, 0, 0), 0, left);
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
        var remaining = await PayAsync(charged);
        await RecordAsync(answering.Target, input, output, latencyMs,
            outcome switch { ChatOutcome.Complete => UsageStatus.Succeeded, ChatOutcome.Cancelled => UsageStatus.Cancelled, _ => UsageStatus.Incomplete }, charged);
        return (new ChatUsage(input, output, reported, estimatedInput, estimatedOutput), charged, remaining);
    }

    /// <summary>
    /// The call's money in one place: settles the hold at <paramref name="charged"/>, or with nothing charged frees it
    /// and gives the question back; then reads the quota left.
    /// </summary>
    async Task<QuotaStatus?> PayAsync(long? charged)
    {
        if (charged is { } amount)
            await _gate.SettleAsync(_hold, amount, CancellationToken.None);
        else
            await GiveBackAsync();
        return await RemainingAsync();
    }

    Task<UsageRecord> RecordAsync(ModelTarget target, long input, long output, long latencyMs, UsageStatus status, long cost) =>
        _engine.Meter.RecordAsync(new UsageEntry(_run.CallId, _run.Spender.OrganizationId, _run.Spender.UserId, target.Provider, target.Model,
            input, output, latencyMs, status, _run.Spender.ApiKeyId, _run.Spender.WorkspaceId, _hold.Id, CostMicros: cost,
            Channel: _run.Spender.Channel, ClientId: _run.Spender.ClientId), CancellationToken.None);

    /// <summary>A call that was started but never streamed gives its credits and its question back.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
            await GiveBackAsync();
        await _scope.DisposeAsync();
    }

    /// <summary>Voids the hold, which uncounts the question with the credits: nothing was answered.</summary>
    Task GiveBackAsync() => _gate.ReleaseAsync(_hold, CancellationToken.None);

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
