using Microsoft.AspNetCore.Mvc;

namespace AiHub.Infrastructure.Errors;

internal static class ProblemResponses
{
    public const string ContentType = "application/problem+json";

    /// <summary>Lists in the OpenAPI document the problems every endpoint of a group (or one endpoint) can answer.</summary>
    public static TBuilder ProducesProblems<TBuilder>(this TBuilder builder, params int[] statuses) where TBuilder : IEndpointConventionBuilder
    {
        foreach (var status in statuses)
            builder.WithMetadata(new ProducesResponseTypeMetadata(status, typeof(ProblemDetails), [ContentType]));
        return builder;
    }
}
