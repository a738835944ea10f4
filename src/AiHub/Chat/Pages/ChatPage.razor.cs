using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using AiHub.Chat.Conversations;
using AiHub.Chat.Engine;
using AiHub.Chat.Grounding;
using AiHub.Chat.Messages;
using AiHub.Chat.Providers;
using AiHub.Credits.Pages;
using AiHub.Credits.Plans;
using AiHub.Credits.Pools;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Organizations;
using AiHub.Organizations.Pages;
using Microsoft.AspNetCore.Components;
using Microsoft.JSInterop;
using Store = AiHub.Chat.Conversations.ConversationService;

namespace AiHub.Chat.Pages;

/// <summary>
/// The chat: a user's conversations in one workspace, the current path of one, and a composer whose answers stream in.
/// </summary>
/// <remarks>
/// Every read and write goes through a scope of its own: an answer streams for a while in its scope, and the page must
/// stay free to search and switch meanwhile without sharing a DbContext or reading stale tracked rows.
/// </remarks>
public partial class ChatPage : OrgPage
{
    /// <summary>At most one re-render per this while an answer streams.</summary>
    static readonly TimeSpan RenderEvery = TimeSpan.FromMilliseconds(50);

    [Inject]
    IServiceScopeFactory Scopes { get; set; } = default!;

    [Inject]
    IJSRuntime JS { get; set; } = default!;

    [Inject]
    CreditChanges CreditChanges { get; set; } = default!;

    [Inject]
    AiHub.Credits.Plans.IOnlinePayment Payment { get; set; } = default!;

    [Parameter]
    public Guid WsId { get; set; }

    [Parameter]
    public Guid? ConversationId { get; set; }

    (Guid Org, Guid Ws)? _loadedFor;
    bool _addressSeen;
    Guid? _address;
    bool _workspaceMissing;
    string? _workspaceModel;
    ConversationResponse? _conversation;
    List<ConversationResponse> _conversations = [];
    List<MessageResponse> _messages = [];
    List<ModelResponse> _models = [];
    IReadOnlyList<KnowledgeBaseChoice> _knowledgeBases = [];
    // The knowledge bases chosen for the open conversation, or for the next one before it exists.
    IReadOnlyCollection<Guid>? _knowledge = [];
    readonly List<ChatCitation> _streamCitations = [];
    QuotaStatus? _quota;
    string? _model;
    string? _draft;
    string? _search;
    string? _searchProblem;
    CancellationTokenSource? _searchDelay;
    bool _sidebarOpen;
    bool _sending;
    ProblemException? _problem;
    Guid? _editingId;
    string? _editText;
    Guid? _streamingId;
    readonly AnswerDraft _answer = new();
    // The streaming answer renders its settled blocks once and only its tail on each of its renders.
    readonly StreamedMarkdown _streamed = new();
    // Markdown is parsed and sanitised once per message text, not on every render (one every 50 ms while streaming).
    readonly Dictionary<Guid, (string Source, MarkupString Html)> _html = [];
    List<string> _followUps = [];
    CancellationTokenSource? _stop;
    ElementReference _messagesBox;
    bool _scroll;

    protected override string Permission => OrgPermissions.ChatUse;

    bool Streaming => _streamingId is not null;

    Spender Spender => new(OrgId, UserId, null, WsId);

    protected override async Task LoadAsync()
    {
        if (_loadedFor != (OrgId, WsId))
        {
            _workspaceMissing = false;
            var workspace = await ScopedAsync(async (s, db) =>
            {
                try
                {
                    return await Workspaces.FindAsync(db, OrgId, WsId, CancellationToken.None);
                }
                catch (ProblemException)
                {
                    return null;
                }
            });
            if (workspace is null)
            {
                _workspaceMissing = true;
                return;
            }
            _workspaceModel = workspace.DefaultModel;
            _models = await ScopedAsync((s, _) => s.GetRequiredService<ModelCatalog>().ListForOrgAsync(OrgId, CancellationToken.None));
            _quota = await ScopedAsync((s, _) => s.GetRequiredService<IQuotaService>().GetAsync(OrgId, QuotaKind.ChatQuestions, CancellationToken.None));
            _knowledgeBases = await ScopedAsync(async (s, _) =>
            {
                var all = new List<KnowledgeBaseChoice>();
                foreach (var check in s.GetServices<IKnowledgeBaseCheck>())
                    all.AddRange(await check.ChoicesAsync(OrgId, WsId, CancellationToken.None));
                return (IReadOnlyList<KnowledgeBaseChoice>)all;
            });
            (_search, _searchProblem, _conversation, _messages, _addressSeen) = (null, null, null, [], false);
            await ListAsync();
            _loadedFor = (OrgId, WsId);
        }
        // Parameters are set again for reasons other than a new address; only a new address opens another conversation.
        if (!_addressSeen || _address != ConversationId)
        {
            (_addressSeen, _address) = (true, ConversationId);
            // A conversation this page just created is already shown; its address catching up must not reload it mid-answer.
            if (ConversationId is null || ConversationId != _conversation?.Id)
                await OpenAsync(ConversationId);
        }
    }

    async Task OpenAsync(Guid? conversationId)
    {
        (_problem, _editingId, _followUps) = (null, null, []);
        if (conversationId is not { } id)
        {
            (_conversation, _messages, _knowledge) = (null, [], []);
            _model = DefaultModel(null);
            return;
        }
        try
        {
            await ScopedAsync(async (s, _) =>
            {
                var store = s.GetRequiredService<Store>();
                var c = await store.FindOwnAsync(OrgId, WsId, id, UserId, CancellationToken.None);
                _conversation = ConversationQueries.Describe(c);
                _knowledge = c.KnowledgeBaseIds.ToList();
                _messages = (await store.PathWithBranchesAsync(c, null, CancellationToken.None)).ToList();
                return true;
            });
            _model = DefaultModel(_conversation!.Model ?? _messages.LastOrDefault(m => m.Model is not null)?.Model);
            _scroll = true;
        }
        catch (ProblemException problem)
        {
            (_conversation, _messages, _problem) = (null, [], problem);
        }
    }

    async Task ListAsync()
    {
        try
        {
            var page = await ScopedAsync((s, _) => s.GetRequiredService<ConversationQueries>().ListAsync(OrgId, WsId, UserId, false, _search, null, 50, CancellationToken.None));
            (_conversations, _searchProblem) = (page.Items.ToList(), null);
        }
        catch (ProblemException problem)
        {
            _searchProblem = problem.Detail ?? problem.Title;
        }
    }

    /// <summary>Searches once typing pauses, so that each key does not run a full-text query.</summary>
    async Task SearchAsync()
    {
        _searchDelay?.Cancel();
        var delay = _searchDelay = new CancellationTokenSource();
        try
        {
            await Task.Delay(250, delay.Token);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        await ListAsync();
    }

    void NewChat()
    {
        _sidebarOpen = false;
        (_conversation, _messages, _problem, _editingId, _followUps) = (null, [], null, null, []);
        _model = DefaultModel(null);
        Navigation.NavigateTo(ConversationUrl(null));
    }

    async Task SendAsync()
    {
        var text = _draft?.Trim();
        if (string.IsNullOrEmpty(text) || Streaming || _sending)
            return;
        _sending = true;
        try
        {
            if (_conversation is null)
            {
                try
                {
                    var created = await ScopedAsync(async (s, _) => await s.GetRequiredService<Store>().CreateAsync(OrgId, WsId, UserId, null, null, _model, CancellationToken.None,
                        await KnowledgeBaseSelection.RequireAsync(s.GetServices<IKnowledgeBaseCheck>(), OrgId, WsId, _knowledge, CancellationToken.None)));
                    _conversation = ConversationQueries.Describe(created);
                }
                catch (ProblemException problem)
                {
                    _problem = problem;
                    return;
                }
                Navigation.NavigateTo(ConversationUrl(_conversation.Id), new NavigationOptions { ReplaceHistoryEntry = true });
            }
            // The answer on screen, so that a stale page does not follow a leaf another tab moved.
            var parent = _messages.LastOrDefault() is { Role: MessageRole.Assistant } last ? last.Id : (Guid?)null;
            var conversationId = _conversation.Id;
            var model = _model;
            await TurnAsync((turns, ct) => turns.SendAsync(Spender, conversationId, new SendMessageRequest(text, parent, Model: model), ct),
                accepted: () => _draft = null);
        }
        finally
        {
            _sending = false;
        }
    }

    /// <summary>A suggested follow-up is asked as it is; a refusal leaves it in the input like anything typed.</summary>
    Task AskAsync(string question)
    {
        _draft = question;
        return SendAsync();
    }

    void StartEdit(MessageResponse m) => (_editingId, _editText) = (m.Id, m.Content);

    async Task SaveEditAsync(MessageResponse m)
    {
        var text = _editText?.Trim();
        if (string.IsNullOrEmpty(text) || Streaming || _conversation is not { } c)
            return;
        var model = _model;
        await TurnAsync((turns, ct) => turns.SendAsync(Spender, c.Id, new SendMessageRequest(text, EditOf: m.Id, Model: model), ct),
            accepted: () => (_editingId, _editText) = (null, null));
    }

    async Task RegenerateAsync(MessageResponse answer)
    {
        if (Streaming || _conversation is not { } c)
            return;
        var model = _model;
        await TurnAsync((turns, ct) => turns.RegenerateAsync(Spender, c.Id, answer.Id, new RegenerateRequest(model), ct));
    }

    void Stop() => _stop?.Cancel();

    /// <summary>
    /// Starts a turn and streams its answer into the page. A refusal (quota, credits, no provider, bad input) comes before
    /// anything is stored and leaves what the user typed where it was; once accepted, what was typed is cleared at once,
    /// so that the next question typed while the answer streams survives its end.
    /// </summary>
    async Task TurnAsync(Func<ChatTurns, CancellationToken, Task<ChatTurn>> start, Action? accepted = null)
    {
        _problem = null;
        _followUps = [];
        await using var scope = Scopes.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<AppDbContext>().TenantId = OrgId;
        var turns = scope.ServiceProvider.GetRequiredService<ChatTurns>();
        ChatTurn turn;
        try
        {
            turn = await start(turns, CancellationToken.None);
        }
        catch (ProblemException problem)
        {
            _problem = problem;
            return;
        }
        accepted?.Invoke();
        // The hold is taken: the app bar's available credits drop now, and again when the call settles.
        CreditChanges.Publish();

        using var stop = _stop = new CancellationTokenSource();
        _answer.Clear();
        _streamCitations.Clear();
        _streamed.Reset();
        _streamingId = turn.Answer.Id;
        await ReloadPathAsync();
        _scroll = true;
        StateHasChanged();
        var rendered = Stopwatch.StartNew();
        try
        {
            await foreach (var e in turns.StreamAsync(turn, stop.Token))
            {
                _answer.Add(e);
                switch (e)
                {
                    case ChatTitle title when _conversation is not null:
                        _conversation = _conversation with { Title = title.Title, TitleGenerated = true };
                        break;
                    case ChatFollowUps next:
                        _followUps = next.Questions.ToList();
                        break;
                    case ChatCitations cited:
                        _streamCitations.AddRange(cited.Citations);
                        break;
                    case ChatDone done:
                        _quota = done.Remaining ?? _quota;
                        break;
                }
                if (rendered.Elapsed >= RenderEvery)
                {
                    _scroll = true;
                    await InvokeAsync(StateHasChanged);
                    rendered.Restart();
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopped by the user: the engine has recorded the partial answer as cancelled.
        }
        finally
        {
            _streamingId = null;
            _stop = null;
            CreditChanges.Publish();
        }
        await ReloadPathAsync();
        await ListAsync();
        _scroll = true;
    }

    async Task ReloadPathAsync()
    {
        if (_conversation is not { } current)
            return;
        await ScopedAsync(async (s, _) =>
        {
            var store = s.GetRequiredService<Store>();
            var c = await store.FindOwnAsync(OrgId, WsId, current.Id, UserId, CancellationToken.None);
            _conversation = ConversationQueries.Describe(c);
            _messages = (await store.PathWithBranchesAsync(c, null, CancellationToken.None)).ToList();
            return true;
        });
    }

    async Task BranchAsync(MessageResponse m, int step)
    {
        var index = m.SiblingIndex + step;
        if (Streaming || _conversation is not { } current || index < 0 || index >= m.SiblingIds.Count)
            return;
        try
        {
            await ScopedAsync(async (s, _) =>
            {
                var store = s.GetRequiredService<Store>();
                await store.SelectBranchAsync(await store.FindOwnAsync(OrgId, WsId, current.Id, UserId, CancellationToken.None), m.SiblingIds[index], CancellationToken.None);
                return true;
            });
            await ReloadPathAsync();
        }
        catch (ProblemException problem)
        {
            _problem = problem;
        }
    }

    protected override async Task OnAfterRenderAsync(bool firstRender)
    {
        if (_scroll && RendererInfo.IsInteractive)
        {
            _scroll = false;
            try
            {
                await JS.InvokeVoidAsync("aihubChat.scrollToEnd", _messagesBox);
            }
            catch (JSDisconnectedException)
            {
                // The tab went away; nothing to scroll.
            }
        }
    }

    async Task<T> ScopedAsync<T>(Func<IServiceProvider, AppDbContext, Task<T>> action)
    {
        await using var scope = Scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        db.TenantId = OrgId;
        return await action(scope.ServiceProvider, db);
    }

    string ConversationUrl(Guid? id) => $"/orgs/{OrgId}/workspaces/{WsId}/chat" + (id is { } c ? $"/{c}" : "");

    /// <summary>The model the conversation used, else the workspace's, else the catalog's default, as an option of the selector.</summary>
    string? DefaultModel(string? used)
    {
        foreach (var name in new[] { used, _workspaceModel })
        {
            if (name is null)
                continue;
            var match = _models.FirstOrDefault(m => string.Equals(ModelValue(m), name, StringComparison.OrdinalIgnoreCase))
                ?? _models.FirstOrDefault(m => string.Equals(m.Id, name, StringComparison.OrdinalIgnoreCase));
            if (match is not null)
                return ModelValue(match);
        }
        return _models.FirstOrDefault(m => m.Default) is { } chosen ? ModelValue(chosen) : _models.Count > 0 ? ModelValue(_models[0]) : null;
    }

    static string ModelValue(ModelResponse m) => $"{m.Provider}/{m.Id}";

    IReadOnlyList<ChatCitation> Citations(MessageResponse m) => m.Id == _streamingId ? _streamCitations : m.Citations ?? [];

    /// <summary>Grounds the open conversation in the chosen knowledge bases (none: the member's focused one), as a PATCH of knowledgeBaseIds does.</summary>
    async Task SaveKnowledgeAsync()
    {
        if (_conversation is not { } current)
            return;
        _problem = null;
        try
        {
            await ScopedAsync(async (s, db) =>
            {
                var store = s.GetRequiredService<Store>();
                var c = await store.FindOwnAsync(OrgId, WsId, current.Id, UserId, CancellationToken.None);
                c.KnowledgeBaseIds = (await KnowledgeBaseSelection.RequireAsync(s.GetServices<IKnowledgeBaseCheck>(), OrgId, WsId, _knowledge ?? [], CancellationToken.None))!;
                c.UpdatedAt = s.GetRequiredService<TimeProvider>().GetUtcNow();
                await db.SaveChangesAsync(CancellationToken.None);
                _conversation = ConversationQueries.Describe(c);
                return true;
            });
        }
        catch (ProblemException problem)
        {
            _problem = problem;
        }
    }

    static string CitationText(ChatCitation c) => c.Label.Length > 0 ? $"[{c.Index}] {c.Title} · {c.Label}" : $"[{c.Index}] {c.Title}";

    /// <summary>A tool of a connected MCP server is named <c>server__tool</c>: shown with its server, so a reader knows where the answer came from.</summary>
    internal static string ToolTitle(string name) => name.IndexOf("__", StringComparison.Ordinal) is var at and > 0 && at + 2 < name.Length
        ? $"Tool: {name[(at + 2)..]} · MCP server {name[..at]}"
        : $"Tool: {name}";

    IReadOnlyList<ToolCallRecord> ToolCalls(MessageResponse m) => m.Id == _streamingId ? _answer.ToolCalls : m.ToolCalls ?? [];

    MarkupString Html(MessageResponse m)
    {
        if (m.Id == _streamingId)
            return _streamed.Render(_answer.Text);
        if (!_html.TryGetValue(m.Id, out var cached) || !ReferenceEquals(cached.Source, m.Content))
            _html[m.Id] = cached = (m.Content, ChatMarkdown.Render(m.Content, m.Citations));
        return cached.Html;
    }

    protected override void Dispose(bool disposing)
    {
        // A closed tab stops its answer, as a client that leaves the HTTP stream does; it is charged for what was delivered.
        if (disposing)
        {
            _stop?.Cancel();
            _searchDelay?.Cancel();
        }
        base.Dispose(disposing);
    }

    /// <summary>Why an answer is not whole, in words; null for a complete one.</summary>
    static (string Title, string? Detail)? Notice(MessageResponse m)
    {
        var (title, detail) = m.Error is { ValueKind: JsonValueKind.Object } error
            ? (Text(error, "title"), Text(error, "detail"))
            : (null, null);
        return m.Status switch
        {
            MessageStatus.Cancelled => ("Stopped.", m.Content.Length > 0 ? "The answer was stopped before it finished; what arrived is kept." : "The answer was stopped before any text arrived."),
            // The stored error's own title says the same as this one; only its detail adds why.
            MessageStatus.Incomplete => ("The answer was cut short.", detail ?? (title is "The answer was cut short." ? null : title)),
            MessageStatus.Failed => (title ?? "No answer came.", detail),
            MessageStatus.Streaming => ("This answer is still being written, or its stream was lost.", "Reload the page in a moment to see it."),
            _ => null,
        };
    }

    /// <summary>How many of the plan's questions were asked, and when more come, from the refusal's figures rather than its text for programs.</summary>
    static string QuotaUsed(ProblemException problem)
    {
        object? Figure(string name) => problem.Extensions is { } figures && figures.TryGetValue(name, out var value) ? value : null;
        if (Figure("used") is not long used || Figure("limit") is not long limit)
            return "";
        var more = Figure("resetsAt") is DateTimeOffset at ? $"; more on {at.UtcDateTime.ToString("d MMM yyyy HH:mm 'UTC'", CultureInfo.InvariantCulture)}" : "";
        return $"{used} of {limit} questions asked{more}.";
    }

    static string? Text(JsonElement e, string name) =>
        e.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
