using System.Security.Claims;
using AiHub.Identity;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AiHub.Generation.Catalog;

/// <summary>The admin's generation prices, beside the chat prices and under the same permission.</summary>
internal static class GenerationPriceEndpoints
{
    public static void MapGenerationPriceRoutes(IEndpointRouteBuilder app)
    {
        var prices = AdminApi.Group(app, "/generation-prices", Permissions.ProvidersManage);
        prices.MapGet("", List).WithSummary("Lists every generation price, the admin's first: credits per image or per second of video, by size and quality.");
        prices.MapPut("/{provider}/{model}", Set)
            .WithSummary("Sets the price of a generation model at a size and quality (both * when left out); it beats the settings' and the shipped list's.");
        prices.MapDelete("/{provider}/{model}", Delete).WithSummary("Removes an admin's generation price; the settings' or the list's applies again.");
    }

    static async Task<Ok<List<GenerationPriceEntry>>> List(GenerationPrices prices, CancellationToken ct) => TypedResults.Ok(await prices.ListAsync(ct));

    static async Task<Ok<GenerationPriceEntry>> Set(string provider, string model, GenerationPriceRequest body, ClaimsPrincipal user, GenerationPrices prices,
        CancellationToken ct, string? size = null, string? quality = null) =>
        TypedResults.Ok(await prices.SetAsync(provider, model, size, quality, body, user.UserId()!.Value, ct));

    static async Task<NoContent> Delete(string provider, string model, ClaimsPrincipal user, GenerationPrices prices, CancellationToken ct,
        string? size = null, string? quality = null)
    {
        await prices.DeleteAsync(provider, model, size, quality, user.UserId()!.Value, ct);
        return TypedResults.NoContent();
    }
}
