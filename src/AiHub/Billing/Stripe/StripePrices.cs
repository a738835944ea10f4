using System.Collections.Concurrent;
using AiHub.Credits.Plans;
using S = global::Stripe;

namespace AiHub.Billing.Stripe;

/// <summary>
/// Each plan's monthly price at Stripe, found by a lookup key that names the amount: a price change in AiHub makes a
/// new key and a new price, and subscribers keep the price they pay until their plan is changed.
/// </summary>
internal sealed class StripePrices(StripeApi api, TimeProvider clock, ILogger<StripePrices> log)
{
    static readonly TimeSpan CacheFor = TimeSpan.FromMinutes(10);

    readonly ConcurrentDictionary<string, (string PriceId, DateTimeOffset Until)> _cache = new();

    public static string LookupKey(Plan plan) =>
        $"aihub_{plan.Code}_{plan.Currency.ToLowerInvariant()}_{plan.PriceCents}_month";

    /// <summary>The product every price of a plan belongs to; its id is fixed, so it is made once per plan.</summary>
    public static string ProductId(Plan plan) => $"aihub_{plan.Code}";

    public async Task<string> PriceIdAsync(Plan plan, CancellationToken ct)
    {
        var key = LookupKey(plan);
        var now = clock.GetUtcNow();
        if (_cache.TryGetValue(key, out var cached) && cached.Until > now)
            return cached.PriceId;
        var prices = new S.PriceService(api.Client);
        var found = await prices.ListAsync(new S.PriceListOptions { LookupKeys = [key], Active = true, Limit = 1 }, cancellationToken: ct);
        var id = found.Data.FirstOrDefault()?.Id ?? await CreateAsync(plan, key, prices, ct);
        _cache[key] = (id, now + CacheFor);
        return id;
    }

    async Task<string> CreateAsync(Plan plan, string key, S.PriceService prices, CancellationToken ct)
    {
        var products = new S.ProductService(api.Client);
        var productId = ProductId(plan);
        try
        {
            await products.GetAsync(productId, cancellationToken: ct);
        }
        catch (S.StripeException e) when (e.HttpStatusCode == System.Net.HttpStatusCode.NotFound)
        {
            try
            {
                productId = (await products.CreateAsync(new S.ProductCreateOptions
                {
                    Id = productId, Name = $"AiHub {plan.Name}", Metadata = new() { [StripeMetadata.Plan] = plan.Code },
                }, new S.RequestOptions { IdempotencyKey = $"product:{productId}" }, ct)).Id;
            }
            catch (S.StripeException taken) when (taken.StripeError?.Code == "resource_already_exists")
            {
                // Another node made it first: the fixed id is the same.
            }
        }
        var price = await prices.CreateAsync(new S.PriceCreateOptions
        {
            Product = productId, Currency = plan.Currency.ToLowerInvariant(), UnitAmount = plan.PriceCents, LookupKey = key,
            Recurring = new S.PriceRecurringOptions { Interval = "month" }, Nickname = $"{plan.Name} monthly",
            Metadata = new() { [StripeMetadata.Plan] = plan.Code },
        }, new S.RequestOptions { IdempotencyKey = $"price:{key}" }, ct);
        log.LogInformation("Made the Stripe price {PriceId} for {Plan} ({LookupKey})", price.Id, plan.Code, key);
        return price.Id;
    }
}
