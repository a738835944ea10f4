using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace AiHub.Chat.Sockets;

/// <summary>
/// The WebSocket in the OpenAPI document. OpenAPI has no words for a socket's frames, so the upgrade request is an
/// operation and its description is the protocol; without it a client reading the document would not know /ws exists.
/// </summary>
internal static class ChatSocketDocument
{
    const string Protocol = """
        Upgrades to a WebSocket (`101 Switching Protocols`) for chat. Authenticate the upgrade request with
        `Authorization: Bearer <access token>`, an API key (`Authorization: Bearer <key>`) or the browser's session cookie.
        Every frame is one JSON text message; several requests may run at once on one socket, told apart by their `id`.

        **Client to server**

        `{ "id": "1", "type": "chat", "provider": "openai", "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "Hi" }], "stream": true, "maxTokens": 256, "temperature": 0.2 }`

        - `id` (string, required): echoed on every reply to this request.
        - `type`: `chat` or `completion` (the same request); `cancel` stops the request with this `id`; `ping` is answered with `pong`.
        - `provider` (optional): `openai`, `claude`, `gemini` or `auto`.
        - `model`: a model id from `GET /api/orgs/{orgId}/models`.
        - `messages`: `{role, content}` with role `system`, `user` or `assistant`.
        - `stream` (default true): chunks as they come, or the whole text in `done`.
        - `maxTokens`, `temperature` (optional).
        - `orgId`, `workspaceId` (optional): whose credits pay, as on the HTTP API; an API key carries its own.
        - `knowledgeBaseIds` (optional): the workspace's knowledge bases that ground the answer; without them, the
          member's focused knowledge base in the workspace, if any.

        **Server to client**

        `{ "id": "1", "type": "citation" | "chunk" | "done" | "error", "data": "…", "usage": { … }, "error": { … } }`

        - `citation`: `data` is a numbered source the answer cites as `[index]`:
          `{index, sourceId, chunkId, title, page, start, end, label, snippet, link}`; a grounded answer's come before
          its first `chunk`, a `search_knowledge` tool's as the tool returns.

        - `chunk`: `data` is the next piece of the answer.
        - `done`: the last reply of a request; `data` is the whole answer when `stream` was false; `usage` is
          `{inputTokens, outputTokens, reported, cost, costMicros, provider, model, status, finishReason}` with `status`
          `complete`, `incomplete`, `cancelled` or `failed`.
        - `error`: `error` is a ProblemDetails (`status`, `title`, `detail`); a refused request (permission, rate, credits)
          gets one and the socket stays open.

        The server pings; a peer that misses two pings is closed.
        """;

    public static void AddSocketToDocument(this OpenApiOptions options) => options.AddDocumentTransformer((document, _, _) =>
    {
        var problem = new OpenApiSchemaReference("ProblemDetails", document);
        OpenApiResponse Problem(string description) => new()
        {
            Description = description,
            Content = new Dictionary<string, OpenApiMediaType> { ["application/problem+json"] = new() { Schema = problem } },
        };
        document.Paths ??= [];
        document.Paths["/ws"] = new OpenApiPathItem
        {
            Operations = new Dictionary<HttpMethod, OpenApiOperation>
            {
                [HttpMethod.Get] = new()
                {
                    OperationId = "ChatSocket",
                    Tags = new HashSet<OpenApiTagReference> { new("Chat", document) },
                    Summary = "Chat over a WebSocket: many requests on one connection, each streamed back by its id.",
                    Description = Protocol,
                    Responses = new OpenApiResponses
                    {
                        ["101"] = new OpenApiResponse { Description = "Switching Protocols: the socket is open." },
                        ["400"] = Problem("Not a WebSocket upgrade request."),
                        ["401"] = Problem("No valid token, API key or session."),
                    },
                },
            },
        };
        return Task.CompletedTask;
    });
}
