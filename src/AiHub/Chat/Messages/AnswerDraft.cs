using System.Text;
using AiHub.Chat.Conversations;
using AiHub.Chat.Engine;

namespace AiHub.Chat.Messages;

/// <summary>An answer as its events arrive: the text so far and the tool calls with their results.</summary>
internal sealed class AnswerDraft
{
    readonly StringBuilder _text = new();
    readonly List<ToolCallRecord> _toolCalls = [];

    public string Text => _text.ToString();

    public IReadOnlyList<ToolCallRecord> ToolCalls => _toolCalls;

    public void Add(ChatEvent e)
    {
        switch (e)
        {
            case ChatDelta delta:
                _text.Append(delta.Text);
                break;
            case ChatToolCall call:
                _toolCalls.Add(new ToolCallRecord(call.CallId, call.Name, call.Arguments, null));
                break;
            case ChatToolResult result when _toolCalls.FindIndex(t => t.CallId == result.CallId) is var i and >= 0:
                _toolCalls[i] = _toolCalls[i] with { Result = result.Result };
                break;
        }
    }

    public void Clear()
    {
        _text.Clear();
        _toolCalls.Clear();
    }
}
