using System.Text.Json;
using System.Text.Json.Nodes;
using AiHub.Gateway;
using AiHub.Gateway.Anthropic;
using AiHub.Infrastructure.Errors;
using Microsoft.Extensions.AI;

namespace AiHub.Tests.Gateway;

public sealed class AnthropicRequestTests
{
    static GatewayChatRequest Parse(string json) => AnthropicRequests.Parse(JsonNode.Parse(json)!.AsObject());

    [Fact]
    public void A_full_request_is_restated_in_Microsoft_Extensions_AI_terms()
    {
        var png = Convert.ToBase64String([0x89, 0x50, 0x4e, 0x47]);
        var request = Parse("""
        {
          "model": "claude-sonnet-4-5", "max_tokens": 300, "stream": true,
          "system": [{"type": "text", "text": "Be brief."}],
          "messages": [
            {"role": "user", "content": [
              {"type": "text", "text": "What is in these?"},
              {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "PNG"}},
              {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}]},
            {"role": "assistant", "content": [
              {"type": "text", "text": "Let me look."},
              {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "cat", "n": 2}}]},
            {"role": "user", "content": [
              {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "a cat"}]},
              {"type": "tool_result", "tool_use_id": "toolu_2", "content": "boom", "is_error": true},
              {"type": "text", "text": "And now?"}]}
          ],
          "tools": [{"name": "lookup", "description": "Looks things up", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}],
          "tool_choice": {"type": "tool", "name": "lookup", "disable_parallel_tool_use": true},
          "stop_sequences": ["END"], "temperature": 0.5, "top_p": 0.9, "top_k": 40,
          "metadata": {"user_id": "u-42"},
          "output_format": {"type": "json_schema", "schema": {"type": "object"}}
        }
        """.Replace("PNG", png, StringComparison.Ordinal));

        Assert.Equal(WireFormat.Anthropic, request.Format);
        Assert.Equal("claude-sonnet-4-5", request.Model);
        Assert.True(request.Stream);
        Assert.Equal(300, request.MaxTokens);

        var m = request.Messages;
        Assert.Equal([ChatRole.System, ChatRole.User, ChatRole.Assistant, ChatRole.Tool, ChatRole.User], m.Select(x => x.Role));
        Assert.Equal("Be brief.", m[0].Text);
        var image = Assert.IsType<DataContent>(m[1].Contents[1]);
        Assert.Equal("image/png", image.MediaType);
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4e, 0x47 }, image.Data.ToArray());
        Assert.Equal(new Uri("https://example.com/cat.jpg"), Assert.IsType<UriContent>(m[1].Contents[2]).Uri);
        var call = Assert.IsType<FunctionCallContent>(m[2].Contents[1]);
        Assert.Equal(("toolu_1", "lookup"), (call.CallId, call.Name));
        Assert.Equal("""{"q":"cat","n":2}""", AiHub.Gateway.Translation.Rendered.Arguments(call));
        var results = m[3].Contents.Cast<FunctionResultContent>().ToList();
        Assert.Equal(("toolu_1", "a cat"), (results[0].CallId, (string)results[0].Result!));
        Assert.Equal(("toolu_2", "Error: boom"), (results[1].CallId, (string)results[1].Result!));
        Assert.Equal("And now?", m[4].Text);

        var o = request.Options;
        var tool = Assert.IsAssignableFrom<AIFunctionDeclaration>(Assert.Single(o.Tools!));
        Assert.IsNotAssignableFrom<AIFunction>(tool);
        Assert.Equal(("lookup", "Looks things up"), (tool.Name, tool.Description));
        Assert.Equal("object", tool.JsonSchema.GetProperty("type").GetString());
        Assert.Equal("lookup", Assert.IsType<RequiredChatToolMode>(o.ToolMode).RequiredFunctionName);
        Assert.False(o.AllowMultipleToolCalls);
        Assert.Equal(["END"], o.StopSequences!);
        Assert.Equal((0.5f, 0.9f, 40), (o.Temperature, o.TopP, o.TopK));
        Assert.Equal("u-42", o.AdditionalProperties!["user"]);
        Assert.Equal("object", Assert.IsType<ChatResponseFormatJson>(o.ResponseFormat).Schema!.Value.GetProperty("type").GetString());
    }

    [Fact]
    public void A_minimal_request_has_defaults()
    {
        var request = Parse("""{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}""");

        Assert.False(request.Stream);
        var message = Assert.Single(request.Messages);
        Assert.Equal((ChatRole.User, "hi"), (message.Role, message.Text));
        Assert.Null(request.Options.Tools);
        Assert.Null(request.Options.Temperature);
    }

    [Theory]
    [InlineData("""{"max_tokens":1,"messages":[{"role":"user","content":"x"}]}""", "model", "Field required")]
    [InlineData("""{"model":7,"max_tokens":1,"messages":[{"role":"user","content":"x"}]}""", "model", "valid string")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}]}""", "max_tokens", "Field required")]
    [InlineData("""{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]}""", "max_tokens", "greater than or equal to 1")]
    [InlineData("""{"model":"m","max_tokens":"10","messages":[{"role":"user","content":"x"}]}""", "max_tokens", "valid integer")]
    [InlineData("""{"model":"m","max_tokens":1.5,"messages":[{"role":"user","content":"x"}]}""", "max_tokens", "valid integer")]
    [InlineData("""{"model":"m","max_tokens":1}""", "messages", "Field required")]
    [InlineData("""{"model":"m","max_tokens":1,"messages":[]}""", "messages", "At least one message")]
    [InlineData("""{"model":"m","max_tokens":1,"messages":{}}""", "messages", "valid list")]
    [InlineData("""{"model":"m","max_tokens":1,"messages":[{"role":"system","content":"x"}]}""", "messages.0.role", "'user' or 'assistant'")]
    [InlineData("""{"model":"m","max_tokens":1,"messages":[{"role":"user"}]}""", "messages.0.content", "Field required")]
    [InlineData("""{"model":"m","max_tokens":1,"messages":[{"role":"user","content":5}]}""", "messages.0.content", "string or a list")]
    [InlineData("""{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"video"}]}]}""", "messages.0.content.0.type", "Input should be")]
    [InlineData("""{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text"}]}]}""", "messages.0.content.0.text", "Field required")]
    [InlineData("""{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"AA=="}}]}]}""", "messages.0.content.0.source.media_type", "image/jpeg")]
    [InlineData("""{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"not base64!"}}]}]}""", "messages.0.content.0.source.data", "base64")]
    [InlineData("""{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"file:///etc/passwd"}}]}]}""", "messages.0.content.0.source.url", "http")]
    [InlineData("""{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_use","id":"a","name":"b","input":{}}]}]}""", "messages.0.content.0.type", "assistant messages")]
    [InlineData("""{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"b","input":[]}]}]}""", "messages.0.content.0.input", "valid dictionary")]
    [InlineData("""{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}""", "messages.0.content.0.tool_use_id", "Field required")]
    [InlineData("""{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","is_error":"yes"}]}]}""", "messages.0.content.0.is_error", "valid boolean")]
    [InlineData("""{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":[{"type":"document"}]}]}]}""", "messages.0.content.0.content.0.type", "'text' or 'image'")]
    [InlineData("""{"model":"m","max_tokens":1,"system":5,"messages":[{"role":"user","content":"x"}]}""", "system", "string or a list")]
    [InlineData("""{"model":"m","max_tokens":1,"system":[{"type":"image"}],"messages":[{"role":"user","content":"x"}]}""", "system.0.type", "'text'")]
    [InlineData("""{"model":"m","max_tokens":1,"temperature":1.5,"messages":[{"role":"user","content":"x"}]}""", "temperature", "between 0 and 1")]
    [InlineData("""{"model":"m","max_tokens":1,"temperature":"hot","messages":[{"role":"user","content":"x"}]}""", "temperature", "valid number")]
    [InlineData("""{"model":"m","max_tokens":1,"top_p":-0.1,"messages":[{"role":"user","content":"x"}]}""", "top_p", "between 0 and 1")]
    [InlineData("""{"model":"m","max_tokens":1,"top_k":-1,"messages":[{"role":"user","content":"x"}]}""", "top_k", "greater than or equal to 0")]
    [InlineData("""{"model":"m","max_tokens":1,"stop_sequences":"END","messages":[{"role":"user","content":"x"}]}""", "stop_sequences", "valid list")]
    [InlineData("""{"model":"m","max_tokens":1,"stop_sequences":[1],"messages":[{"role":"user","content":"x"}]}""", "stop_sequences.0", "valid string")]
    [InlineData("""{"model":"m","max_tokens":1,"tools":[{"name":"a"}],"messages":[{"role":"user","content":"x"}]}""", "tools.0.input_schema", "Field required")]
    [InlineData("""{"model":"m","max_tokens":1,"tools":[{"name":"a","input_schema":{"type":"array"}}],"messages":[{"role":"user","content":"x"}]}""", "tools.0.input_schema.type", "'object'")]
    [InlineData("""{"model":"m","max_tokens":1,"tools":[{"name":"a b","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"x"}]}""", "tools.0.name", "pattern")]
    [InlineData("""{"model":"m","max_tokens":1,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"x"}]}""", "tools.0.type", "custom tool")]
    [InlineData("""{"model":"m","max_tokens":1,"tool_choice":{"type":"required"},"messages":[{"role":"user","content":"x"}]}""", "tool_choice.type", "'auto', 'any', 'tool' or 'none'")]
    [InlineData("""{"model":"m","max_tokens":1,"tool_choice":{"type":"tool","name":"nope"},"messages":[{"role":"user","content":"x"}]}""", "tool_choice.name", "not in tools")]
    [InlineData("""{"model":"m","max_tokens":1,"metadata":{"user_id":5},"messages":[{"role":"user","content":"x"}]}""", "metadata.user_id", "valid string")]
    [InlineData("""{"model":"m","max_tokens":1,"stream":"yes","messages":[{"role":"user","content":"x"}]}""", "stream", "valid boolean")]
    [InlineData("""{"model":"m","max_tokens":1,"output_format":{"type":"json_object"},"messages":[{"role":"user","content":"x"}]}""", "output_format.type", "'json_schema'")]
    public void A_bad_field_is_a_400_that_names_it(string json, string field, string says)
    {
        var e = Assert.Throws<ProblemException>(() => Parse(json));

        Assert.Equal(400, e.Status);
        Assert.Equal([field], e.Errors!.Keys);
        Assert.StartsWith(field + ": ", e.Detail, StringComparison.Ordinal);
        Assert.Contains(says, e.Detail, StringComparison.Ordinal);
    }
}
