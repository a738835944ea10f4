using AiHub.Chat.Providers;
using AiHub.Credits.Plans;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Money;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Generation.Catalog;

/// <summary>A generation model one organisation may use: who serves it and what it accepts.</summary>
internal sealed record GenerationModelChoice(GenerationEndpoint Endpoint, string Model, GenerationModelSpec Spec)
{
    /// <summary><c>provider/model</c>.</summary>
    public string Id => $"{Endpoint.Name}/{Model}";
}

/// <summary>
/// The deployment's generation models (<c>Providers:N:ImageModels</c> and <c>VideoModels</c>), less those an admin
/// disabled for the organisation's plan on the Models page.
/// </summary>
internal sealed class GenerationModels(AppDbContext db, IOptions<ProvidersSettings> providers, GenerationPrices prices)
{
    public IEnumerable<GenerationModelChoice> Deployment()
    {
        foreach (var p in providers.Value.Items)
        {
            var kind = ProviderKinds.Parse(p.Kind)!;
            var endpoint = new GenerationEndpoint(p.Name!.Trim().ToLowerInvariant(), kind, ProviderKinds.ParseUrl(p.BaseUrl) ?? ProviderKinds.DefaultBaseUrl(kind)!,
                string.IsNullOrWhiteSpace(p.ApiKey) ? null : p.ApiKey.Trim());
            foreach (var model in Clean(p.ImageModels))
                yield return new(endpoint, model, GenerationModelSpecs.Of(GenerationKind.Image, model));
            foreach (var model in Clean(p.VideoModels))
                yield return new(endpoint, model, GenerationModelSpecs.Of(GenerationKind.Video, model));
        }
    }

    public async Task<List<GenerationModelChoice>> ForOrgAsync(Guid orgId, CancellationToken ct)
    {
        var plan = (await PlanCatalog.PlanOfAsync(db, orgId, ct)).Code;
        var settings = await db.Set<ModelSetting>().AsNoTracking().ToListAsync(ct);
        return [.. Deployment().Where(c => settings.FirstOrDefault(s => s.Provider == c.Endpoint.Name && s.Model.Equals(c.Model, StringComparison.OrdinalIgnoreCase))
            is not { } s || !s.DisabledPlans.Contains(plan, StringComparer.OrdinalIgnoreCase))];
    }

    /// <summary>
    /// The model a request names, <c>provider/model</c> or a model id one provider serves; a 400 naming the field when
    /// the org has no such model (of <paramref name="kind"/>, when given).
    /// </summary>
    public async Task<GenerationModelChoice> FindAsync(Guid orgId, string? model, GenerationKind? kind, string field, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(model))
            throw ProblemException.Invalid(field, "Name the model to generate with, such as openai/sora-2 or openai/gpt-image-1 (GET …/generation-models lists them).");
        var name = model.Trim();
        var all = (await ForOrgAsync(orgId, ct)).Where(c => kind is null || c.Spec.Kind == kind).ToList();
        var matches = all.Where(c => c.Id.Equals(name, StringComparison.OrdinalIgnoreCase)).ToList();
        if (matches.Count == 0)
            matches = [.. all.Where(c => c.Model.Equals(name, StringComparison.OrdinalIgnoreCase))];
        return matches.Count switch
        {
            1 => matches[0],
            0 => throw ProblemException.Invalid(field, $"'{name}' is not a{(kind is null ? "" : kind == GenerationKind.Video ? " video" : "n image")} generation model " +
                 $"this organisation can use. It can use: {(all.Count == 0 ? "none (an operator declares Providers:N:ImageModels or VideoModels)" : string.Join(", ", all.Select(c => c.Id)))}."),
            _ => throw ProblemException.Invalid(field, $"'{name}' is served by several providers; name one: {string.Join(", ", matches.Select(c => c.Id))}."),
        };
    }

    public async Task<List<GenerationModelResponse>> ListAsync(Guid orgId, CancellationToken ct)
    {
        var list = new List<GenerationModelResponse>();
        foreach (var c in await ForOrgAsync(orgId, ct))
            list.Add(await DescribeAsync(c, ct));
        return list;
    }

    public async Task<GenerationModelResponse> DescribeAsync(GenerationModelChoice c, CancellationToken ct)
    {
        var s = c.Spec;
        var rates = new List<GenerationPriceResponse>();
        foreach (var size in s.Sizes)
            foreach (var quality in s.Qualities.Count == 0 ? [null] : s.Qualities.Cast<string?>())
                if (await prices.RateAsync(c.Endpoint.Name, s.Kind, c.Model, size, quality, ct) is { } rate)
                    rates.Add(new(size, quality, rate.Unit, Micros.ToCredits(rate.MicrosPerUnit), rate.MicrosPerUnit, rate.Source));
        return new(c.Id, c.Endpoint.Name, c.Model, s.Kind, s.DisplayName, s.Sizes, s.DefaultSize, s.Seconds, s.DefaultSeconds, s.Qualities, s.DefaultQuality,
            s.MaxCount, s.AcceptsInputImage, s.Remix, s.MaxPromptLength, rates);
    }

    static IEnumerable<string> Clean(List<string> models) =>
        models.Where(m => !string.IsNullOrWhiteSpace(m)).Select(m => m.Trim()).Distinct(StringComparer.OrdinalIgnoreCase);
}
