using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.ML.Tokenizers;

namespace AiHub.Chat.Tokens;

/// <summary>
/// Counts tokens the way OpenAI's models do (o200k or cl100k), offline from the tokenizer data packages. For other
/// families (Claude, Gemini, local models) cl100k is the estimate: close enough to reserve credits, and the
/// provider's reported usage settles the real amount.
/// </summary>
internal sealed class TokenCounter
{
    public const string O200k = "o200k_base";
    public const string Cl100k = "cl100k_base";

    /// <summary>Every message is wrapped in role markers, as in OpenAI's chat format.</summary>
    public const int PerMessage = 3;

    /// <summary>The reply is primed with <c>&lt;|start|&gt;assistant&lt;|message|&gt;</c>.</summary>
    public const int ReplyPriming = 3;

    public const int PerName = 1;

    // Loaded once, on first use; the vocabularies are a few MB each and the tokenizers are thread-safe.
    readonly Lazy<Tokenizer> _o200k = new(() => TiktokenTokenizer.CreateForEncoding(O200k), LazyThreadSafetyMode.ExecutionAndPublication);
    readonly Lazy<Tokenizer> _cl100k = new(() => TiktokenTokenizer.CreateForEncoding(Cl100k), LazyThreadSafetyMode.ExecutionAndPublication);

    // Arguments and results reach the model as compact JSON, as the providers send them.
    static readonly JsonSerializerOptions Compact = new(AIJsonUtilities.DefaultOptions) { WriteIndented = false };

    static readonly string[] O200kFamilies = ["gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-oss", "o1", "o3", "o4"];

    /// <summary>The encoding used for <paramref name="model"/>: o200k for OpenAI's current families, cl100k for every other model.</summary>
    public static string Encoding(string model)
    {
        var name = Normalize(model);
        return O200kFamilies.Any(f => IsFamily(name, f)) ? O200k : Cl100k;
    }

    /// <summary>Whether the count is the model's own (OpenAI's families) rather than an estimate from cl100k.</summary>
    public static bool IsExact(string model)
    {
        var name = Normalize(model);
        return Encoding(model) == O200k || IsFamily(name, "gpt-4") || IsFamily(name, "gpt-3.5");
    }

    public int Count(string model, string text) =>
        string.IsNullOrEmpty(text) ? 0 : TokenizerFor(model).CountTokens(text);

    /// <summary>The length of the longest start of <paramref name="text"/> that is at most <paramref name="maxTokens"/> tokens.</summary>
    public int IndexAtTokenCount(string model, string text, int maxTokens) =>
        string.IsNullOrEmpty(text) ? 0 : TokenizerFor(model).GetIndexByTokenCount(text, maxTokens, out _, out _, considerNormalization: false);

    /// <summary>A prompt's tokens: each message's role, name and contents plus its wrapping, and the reply's priming.</summary>
    public int Count(string model, IEnumerable<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var tokenizer = TokenizerFor(model);
        var total = ReplyPriming;
        foreach (var message in messages)
        {
            total += PerMessage + tokenizer.CountTokens(message.Role.Value);
            if (!string.IsNullOrEmpty(message.AuthorName))
                total += PerName + tokenizer.CountTokens(message.AuthorName);
            foreach (var content in message.Contents)
                total += Count(tokenizer, content);
        }
        return total;
    }

    /// <summary>Text, and the calls and results of tools, which the model reads as text too; images and files are not counted.</summary>
    static int Count(Tokenizer tokenizer, AIContent content) => content switch
    {
        TextContent text => CountText(tokenizer, text.Text),
        TextReasoningContent reasoning => CountText(tokenizer, reasoning.Text),
        FunctionCallContent call => CountText(tokenizer, call.Name) + CountText(tokenizer, call.Arguments is null ? "" : JsonSerializer.Serialize(call.Arguments, Compact)),
        FunctionResultContent result => CountText(tokenizer, result.Result switch
        {
            null => "",
            string s => s,
            JsonElement { ValueKind: JsonValueKind.String } s => s.GetString() ?? "",
            var other => JsonSerializer.Serialize(other, Compact),
        }),
        _ => 0,
    };

    static int CountText(Tokenizer tokenizer, string? text) => string.IsNullOrEmpty(text) ? 0 : tokenizer.CountTokens(text);

    Tokenizer TokenizerFor(string model) => Encoding(model) == O200k ? _o200k.Value : _cl100k.Value;

    /// <summary>Lower case, without a router's provider prefix (<c>openai/gpt-4o</c>) or a deployment's path.</summary>
    static string Normalize(string model)
    {
        var name = (model ?? "").Trim().ToLowerInvariant();
        var slash = name.LastIndexOf('/');
        return slash >= 0 ? name[(slash + 1)..] : name;
    }

    /// <summary><paramref name="name"/> is <paramref name="family"/> or one of its versions (<c>o1</c>, <c>o1-mini</c>, but not <c>o10</c>).</summary>
    static bool IsFamily(string name, string family) =>
        name.StartsWith(family, StringComparison.Ordinal) && (name.Length == family.Length || name[family.Length] is '-' or ':' or '.' or '_');
}
