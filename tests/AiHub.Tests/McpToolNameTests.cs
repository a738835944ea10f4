using System.Text.RegularExpressions;
using AiHub.Chat.Pages;
using AiHub.Mcp.Client;

namespace AiHub.Tests;

public sealed class McpToolNameTests
{
    static readonly Regex Valid = new("^[A-Za-z0-9_-]{1,64}$");

    [Fact]
    public void A_short_valid_name_is_server_and_tool_joined()
    {
        Assert.Equal("everything__get-sum", McpToolSource.ToolName("everything", "get-sum"));
    }

    [Theory]
    [InlineData("github", "repos.search")]
    [InlineData("github", "search issues/pulls")]
    [InlineData("a-very-long-server-name-of-32ch", "a_tool_with_a_name_that_is_far_longer_than_any_provider_accepts_for_a_function")]
    public void A_name_a_provider_would_refuse_is_made_valid_and_stays_the_same_between_turns(string server, string tool)
    {
        var name = McpToolSource.ToolName(server, tool);

        Assert.Matches(Valid, name);
        Assert.Equal(name, McpToolSource.ToolName(server, tool));
        Assert.StartsWith(server[..Math.Min(server.Length, 20)], name, StringComparison.Ordinal);
    }

    [Fact]
    public void Two_tools_that_differ_only_in_a_refused_character_or_past_the_limit_get_different_names()
    {
        Assert.NotEqual(McpToolSource.ToolName("s", "a.b"), McpToolSource.ToolName("s", "a/b"));
        var stem = new string('t', 70);
        Assert.NotEqual(McpToolSource.ToolName("s", stem + "1"), McpToolSource.ToolName("s", stem + "2"));
    }

    [Fact]
    public void The_chat_shows_an_mcp_tool_with_its_server_and_a_built_in_one_as_it_is()
    {
        Assert.Equal("Tool: get-sum · MCP server everything", ChatPage.ToolTitle("everything__get-sum"));
        Assert.Equal("Tool: web_search", ChatPage.ToolTitle("web_search"));
    }
}
