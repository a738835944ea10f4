using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using AiHub.Chat.Engine;
using AiHub.Chat.Providers;
using AiHub.Chat.Tokens;
using AiHub.Credits.Leases;
using AiHub.Credits.Plans;
using AiHub.Credits.Usage;
using AiHub.Infrastructure.Errors;
using AiHub.Organizations;
using AiHub.Organizations.ApiKeys;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace AiHub.Gateway.Calls;

/// <summary>
/// One chat call through <c>/v1</c>, whatever the wire format: the key, the body, the route, a hold at the worst case,
/// then the models of the chain in turn until one answers, and the call settled at what it cost.
/// </summary>
/// <remarks>
/// Money rules, as in chat: a model is replaced only while nothing reached the client; a stream that ends without the
/// provider saying it finished ends with an error event, never a clean end, and is charged for what was delivered; a
/// call that delivered nothing releases its hold. Nothing here reads the database: keys, routes and prices are cached.
/// </remarks>
internal sealed class GatewayCalls
{
    readonly RouteCache _routes;
    readonly TokenCounter _tokens;
    readonly CreditLeases _leases;
    readonly UsageWriter _usage;
    readonly KeyTokenLimits _tokenLimits;
    readonly TimeProvider _clock;
    readonly ChatTimeoutSettings _timeouts;
    readonly long _maxRequestBytes;
    readonly IWireFormat?[] _wires;

    public GatewayCalls(RouteCache routes, TokenCounter tokens, CreditLeases leases, UsageWriter usage, KeyTokenLimits tokenLimits, TimeProvider clock,
        IOptions<ChatSettings> chat, IOptions<GatewaySettings> settings, IEnumerable<IWireFormat> wires)
    {
        _tokenLimits = tokenLimits;
        _routes = routes;
        _tokens = tokens;
        _leases = leases;
        _usage = usage;
        _clock = clock;
        _timeouts = chat.Value.Timeouts;
        _maxRequestBytes = settings.Value.MaxRequestBytes;
        _wires = new IWireFormat?[Enum.GetValues<WireFormat>().Length];
        foreach (var wire in wires)
            _wires[(int)wire.Format] ??= wire;
    }

    public async Task RunAsync(HttpContext http, WireFormat format)
    {
        var wire = _wires[(int)format] ?? throw new ProblemException(StatusCodes.Status404NotFound, "Not found.",
            $"No resource matches {http.Request.Method} {http.Request.Path}.", ProblemTypes.NotFound);
        // The key first: a caller without one gets nothing read or parsed.
        var key = await GatewayCaller.RequireAsync(http, OrgPermissions.ChatUse);
        var ct = http.RequestAborted;
        var request = wire.Parse(await ReadBodyAsync(http, ct));
        var spender = GatewayCaller.SpenderOf(key);
        var chain = await _routes.RouteAsync(key.OrganizationId, request.Model, ct);
        var plan = Plan(request, chain);
        await _tokenLimits.CheckAsync(key, ct);
        var started = Stopwatch.GetTimestamp();
        var hold = await _leases.HoldAsync(spender, plan.Most, "gw:" + Guid.NewGuid().ToString("N"), QuotaKind.ChatQuestions, ct);
        var call = new Call(this, http, key, wire, request, plan, hold, started);
        try
        {
            await (request.Stream ? call.StreamAsync() : call.CompleteAsync());
        }
        finally
        {
            await call.AbandonAsync();
        }
    }

    /// <summary>
    /// The authentication middleware drops a failed result; its reason (unknown, revoked, expired) is what the client
    /// needs, so it is read again (the handler answers from its own cache) for the refusal to name it.
    /// </summary>
    /// <summary>The body, read up to the limit: a larger one is refused with 413 as soon as the limit is passed.</summary>
    async Task<JsonObject> ReadBodyAsync(HttpContext http, CancellationToken ct)
    {
        if (http.Request.ContentLength > _maxRequestBytes)
            throw TooLarge();
        var size = http.Request.ContentLength is { } length and > 0 ? (int)length : 16 * 1024;
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(size, (int)Math.Min(_maxRequestBytes, int.MaxValue - 1)) + 1);
        var used = 0;
        try
        {
            while (true)
            {
                if (used == buffer.Length)
                {
                    if (used > _maxRequestBytes)
                        throw TooLarge();
                    var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, _maxRequestBytes + 1));
                    buffer.AsSpan(0, used).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }
                int read;
                try
                {
                    read = await http.Request.Body.ReadAsync(buffer.AsMemory(used), ct);
                }
                catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
                {
                    throw TooLarge();
                }
                if (read == 0)
                    break;
                used += read;
                if (used > _maxRequestBytes)
                    throw TooLarge();
            }
            return Json(buffer.AsSpan(0, used));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    static JsonObject Json(ReadOnlySpan<byte> body)
    {
        try
        {
            return JsonNode.Parse(body) as JsonObject
                ?? throw new ProblemException(StatusCodes.Status400BadRequest, "The request body is not a JSON object.", "Send the request as a JSON object.", ProblemTypes.Validation);
        }
        catch (JsonException e)
        {
            throw new ProblemException(StatusCodes.Status400BadRequest, "The request body is not valid JSON.", e.Message, ProblemTypes.Validation);
        }
    }

    ProblemException TooLarge() => new(StatusCodes.Status413PayloadTooLarge, "The request body is too large.",
        $"A chat request may be at most {_maxRequestBytes / (1024 * 1024.0):0.#} MB; send large images by URL.", ProblemTypes.Validation);

    /// <summary>The targets that may answer, each with its estimate of the input, the output cap, and the most the call can cost.</summary>
    internal sealed record CallPlan(IReadOnlyList<PricedTarget> Targets, int MaxOutput, long Most);

    internal sealed record PricedTarget(ModelTarget Target, ModelRate Price, int EstimatedInput)
    {
        public long Cost(long input, long output) => PriceCatalog.Cost(input, output, Price.InputMicrosPerMillion, Price.OutputMicrosPerMillion);
    }

    /// <remarks>As in chat: every model of the chain may end up answering, so the hold covers the dearest; a fallback nobody priced is left out.</remarks>
    CallPlan Plan(GatewayChatRequest request, IReadOnlyList<ModelTarget> chain)
    {
        // Models of one family share a tokenizer, so the messages are counted once per encoding.
        string? firstEncoding = null, secondEncoding = null;
        int firstCount = 0, secondCount = 0;
        int InputOf(string model)
        {
            var encoding = TokenCounter.Encoding(model);
            if (encoding == firstEncoding)
                return firstCount;
            if (encoding == secondEncoding)
                return secondCount;
            var n = _tokens.Count(model, request.Messages);
            if (firstEncoding is null)
                (firstEncoding, firstCount) = (encoding, n);
            else
                (secondEncoding, secondCount) = (encoding, n);
            return n;
        }

        var first = chain[0];
        if (first.Price is null)
            throw PriceCatalog.NotPriced(first.Provider, first.Model);
        var input = InputOf(first.Model);
        if (input >= first.ContextLength)
            throw new ProblemException(StatusCodes.Status400BadRequest, "The messages are too long for this model.",
                $"They are about {input:N0} tokens and {first.DisplayName} reads at most {first.ContextLength:N0}.", ProblemTypes.ContextTooLong)
            {
                Errors = new Dictionary<string, string[]> { ["messages"] = ["The messages are longer than the model's context."] },
            };
        var maxOutput = (int)Math.Min(Math.Min(request.MaxTokens ?? ChatEngine.DefaultMaxOutputTokens, ChatEngine.MaxOutputTokensLimit),
            Math.Max(1, first.ContextLength - input));
        var targets = new List<PricedTarget>(chain.Count);
        long most = 0;
        foreach (var target in chain)
        {
            if (target.Price is not { } price)
                continue;
            var priced = new PricedTarget(target, price, InputOf(target.Model));
            most = Math.Max(most, priced.Cost(priced.EstimatedInput, maxOutput));
            targets.Add(priced);
        }
        return new CallPlan(targets, maxOutput, most);
    }

    /// <summary>One call after its hold: the attempts, then the one settlement (or release) and usage record.</summary>
    sealed class Call(GatewayCalls owner, HttpContext http, ApiKeyIdentity key, IWireFormat wire, GatewayChatRequest request, CallPlan plan, LeasedHold hold, long started)
    {
        readonly CancellationToken _ct = http.RequestAborted;
        bool _clientGone;
        Exception? _failure;
        PricedTarget? _failed;

        public async Task CompleteAsync()
        {
            foreach (var candidate in plan.Targets)
            {
                UpstreamAnswer answer;
                if (Open(candidate) is not { } attempt)
                    continue;
                await using (attempt)
                {
                    try
                    {
                        answer = await attempt.CompleteAsync(_ct);
                    }
                    catch (Exception e) when (!_ct.IsCancellationRequested)
                    {
                        (_failure, _failed) = (e, candidate);
                        continue;
                    }
                    catch (Exception)
                    {
                        // The client left before the answer came: it pays nothing.
                        await FailAsync(candidate, UsageStatus.Cancelled);
                        return;
                    }
                }
                var output = answer.OutputTokens ?? owner._tokens.Count(candidate.Target.Model, answer.Text);
                var input = answer.InputTokens ?? candidate.EstimatedInput;
                await PayAsync(candidate, input, output, UsageStatus.Succeeded);
                http.Response.StatusCode = StatusCodes.Status200OK;
                http.Response.ContentType = "application/json";
                http.Response.ContentLength = answer.Body.Length;
                await http.Response.Body.WriteAsync(answer.Body, CancellationToken.None);
                return;
            }
            await FailAsync(plan.Targets.Count > 0 ? plan.Targets[0] : null, UsageStatus.Failed);
            throw NoModelAnswered();
        }

        public async Task StreamAsync()
        {
            foreach (var candidate in plan.Targets)
            {
                if (Open(candidate) is not { } opened)
                    continue;
                await using var attempt = opened;
                var delivered = await AttemptAsync(attempt, candidate);
                if (!delivered && !_ct.IsCancellationRequested && !(attempt.Finished && _failure is null))
                    continue;
                if (!delivered && _ct.IsCancellationRequested)
                {
                    await FailAsync(candidate, UsageStatus.Cancelled);
                    return;
                }
                await EndAsync(attempt, candidate);
                return;
            }
            await FailAsync(plan.Targets.Count > 0 ? plan.Targets[0] : null, UsageStatus.Failed);
            throw NoModelAnswered();
        }

        /// <summary>Whether the hold is settled or released: after that, nothing of the call's money is left to do.</summary>
        public bool Closed { get; private set; }

        /// <summary>A call that failed in a way nobody foresaw still gives its hold back, rather than leave it open until it expires.</summary>
        public async Task AbandonAsync()
        {
            if (!Closed)
                await FailAsync(null, UsageStatus.Failed);
        }

        /// <summary>An attempt at <paramref name="candidate"/>, or null when it cannot even start (then the next model answers).</summary>
        IUpstreamCall? Open(PricedTarget candidate)
        {
            try
            {
                return wire.Open(request, candidate.Target, plan.MaxOutput);
            }
            catch (Exception e)
            {
                (_failure, _failed) = (e, candidate);
                return null;
            }
        }

        /// <summary>Streams one attempt to the client; whether anything reached it. The first-token and idle timeouts run on the node's clock.</summary>
        async Task<bool> AttemptAsync(IUpstreamCall attempt, PricedTarget candidate)
        {
            using var timer = new CancellationTokenSource(owner._timeouts.FirstToken, owner._clock);
            using var watch = CancellationTokenSource.CreateLinkedTokenSource(_ct, timer.Token);
            _failure = null;
            var delivered = false;
            var events = attempt.StreamAsync(watch.Token).GetAsyncEnumerator(watch.Token);
            try
            {
                while (true)
                {
                    try
                    {
                        if (!await events.MoveNextAsync())
                            break;
                    }
                    catch (Exception e) when (!_ct.IsCancellationRequested)
                    {
                        _failure = timer.IsCancellationRequested ? Timeout(candidate, delivered) : e;
                        _failed = candidate;
                        break;
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                    if (!delivered)
                    {
                        // The response starts only now: until a model has said something, the next one may still answer, or a status can.
                        http.Response.StatusCode = StatusCodes.Status200OK;
                        http.Response.ContentType = "text/event-stream";
                        http.Response.Headers.CacheControl = "no-cache";
                        delivered = true;
                    }
                    timer.CancelAfter(owner._timeouts.Idle);
                    if (!await WriteAsync(events.Current))
                    {
                        await watch.CancelAsync();
                        break;
                    }
                }
            }
            finally
            {
                await DisposeQuietlyAsync(events);
            }
            if (timer.IsCancellationRequested && !_ct.IsCancellationRequested && _failure is null)
                (_failure, _failed) = (Timeout(candidate, delivered), candidate);
            return delivered;
        }

        /// <summary>Ends a stream that delivered: a clean end when the provider finished, else the error event; the call paid either way.</summary>
        async Task EndAsync(IUpstreamCall attempt, PricedTarget candidate)
        {
            var text = attempt.DeliveredText;
            if (attempt.Finished && _failure is null && !_ct.IsCancellationRequested)
            {
                var input = attempt.InputTokens ?? candidate.EstimatedInput;
                var output = attempt.OutputTokens ?? owner._tokens.Count(candidate.Target.Model, text);
                var (chargedInput, chargedOutput) = await PayAsync(candidate, input, output, UsageStatus.Succeeded);
                if (!http.Response.HasStarted)
                {
                    http.Response.StatusCode = StatusCodes.Status200OK;
                    http.Response.ContentType = "text/event-stream";
                }
                await WriteAsync(attempt.Closing(chargedInput, chargedOutput));
                return;
            }
            // Cut, timed out or left by the client: only what was delivered is charged.
            var delivered = owner._tokens.Count(candidate.Target.Model, text);
            var cancelled = _ct.IsCancellationRequested || _clientGone;
            await PayAsync(candidate, attempt.InputTokens ?? candidate.EstimatedInput, delivered, cancelled ? UsageStatus.Cancelled : UsageStatus.Incomplete);
            if (!cancelled)
                await WriteAsync(wire.ErrorEvent(new ProblemDetails
                {
                    Status = StatusCodes.Status502BadGateway,
                    Title = "The answer was cut short.",
                    Detail = $"{Describe(_failure, candidate.Target)} What arrived is kept and only that is charged.",
                    Type = ProblemTypes.StreamIncomplete,
                }));
        }

        async Task<bool> WriteAsync(ReadOnlyMemory<byte> bytes)
        {
            if (_ct.IsCancellationRequested)
                return false;
            try
            {
                var result = await http.Response.BodyWriter.WriteAsync(bytes, _ct);
                _clientGone |= result.IsCanceled || result.IsCompleted;
                return !_clientGone;
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or ConnectionResetException)
            {
                _clientGone = true;
                return false;
            }
        }

        /// <summary>Settles the hold at the cost of these tokens (at most what was held) and records the call; the tokens charged.</summary>
        async Task<(long Input, long Output)> PayAsync(PricedTarget answering, long input, long output, UsageStatus status)
        {
            input = Plausible(input) ?? answering.EstimatedInput;
            output = Plausible(output) ?? 0;
            var charged = Math.Min(answering.Cost(input, output), hold.Amount);
            Closed = true;
            await owner._leases.SettleAsync(hold, charged, CancellationToken.None);
            await RecordAsync(answering.Target, input, output, status, charged);
            await owner._tokenLimits.AddAsync(key, input + output, CancellationToken.None);
            return (input, output);
        }

        /// <summary>Nothing reached the client: the hold and the question are given back, and the failure is recorded at no cost.</summary>
        async Task FailAsync(PricedTarget? first, UsageStatus status)
        {
            Closed = true;
            await owner._leases.ReleaseAsync(hold, CancellationToken.None);
            if (first is not null)
                await RecordAsync(first.Target, 0, 0, status, 0);
        }

        Task RecordAsync(ModelTarget target, long input, long output, UsageStatus status, long cost)
        {
            var spender = hold.Spender;
            return owner._usage.RecordAsync(new UsageEntry(hold.CallId, spender.OrganizationId, spender.UserId, target.Provider, target.Model,
                input, output, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds, status, spender.ApiKeyId, spender.WorkspaceId, hold.HoldId,
                CostMicros: cost, Channel: spender.Channel, ClientId: spender.ClientId), CancellationToken.None);
        }

        ProblemException NoModelAnswered() => new(StatusCodes.Status502BadGateway, "No model could answer.",
            Describe(_failure, _failed?.Target), ProblemTypes.ProviderFailed);

        TimeoutException Timeout(PricedTarget candidate, bool delivered) => new(delivered
            ? $"{candidate.Target.DisplayName} sent nothing for {owner._timeouts.Idle.TotalSeconds:0} s."
            : $"{candidate.Target.DisplayName} did not begin its answer within {owner._timeouts.FirstToken.TotalSeconds:0} s.");
    }

    static long? Plausible(long tokens) => tokens is >= 0 and <= int.MaxValue ? tokens : null;

    static string Describe(Exception? failure, ModelTarget? target) => failure switch
    {
        null => "The provider ended its answer without saying it was finished: the stream was cut.",
        TimeoutException or Completions.UpstreamFailedException => failure.Message,
        ProblemException problem => problem.Detail ?? problem.Title,
        // An org's provider URL could point anywhere: whether its server listens is not for the tenant to read.
        _ when target is { TenantSupplied: true } => "The provider could not be reached.",
        HttpRequestException { StatusCode: { } status } => $"The provider answered {(int)status} ({status}).",
        Polly.CircuitBreaker.BrokenCircuitException => "The provider failed repeatedly and is paused for a moment.",
        _ => $"The provider failed ({failure.GetType().Name}).",
    };

    static async ValueTask DisposeQuietlyAsync(IAsyncEnumerator<ReadOnlyMemory<byte>> events)
    {
        try
        {
            await events.DisposeAsync();
        }
        catch (Exception)
        {
            // A broken connection can throw again while it is torn down; the attempt's outcome is already decided.
        }
    }
}
