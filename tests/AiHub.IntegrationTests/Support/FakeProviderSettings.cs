using AiHub.Fixtures;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Gateway;

namespace AiHub.IntegrationTests.Support;

/// <summary>Settings that make the fake's endpoints a deployment's providers.</summary>
public static class FakeProviderSettings
{
    public const string ImageModel = "gpt-image-1";
    public const string UrlImageModel = "dall-e-3";
    public const string VideoModel = "sora-2";
    public const string ProVideoModel = "sora-2-pro";

    /// <summary>The fake's OpenAI-compatible endpoint as the first provider, named "mock", serving <paramref name="model"/> for chat.</summary>
    public static Dictionary<string, string?> WithMockProvider(this Dictionary<string, string?> settings, FakeLlm fake, string model)
    {
        settings["Providers:0:Name"] = "mock";
        settings["Providers:0:Kind"] = "OpenAICompatible";
        settings["Providers:0:BaseUrl"] = fake.OpenAiEndpoint.AbsoluteUri;
        settings["Providers:0:ApiKey"] = "test-key";
        settings["Providers:0:Models:0"] = model;
        return settings;
    }

    /// <summary>
    /// The fake's OpenAI endpoint as provider <paramref name="index"/>, named <paramref name="name"/>, of kind OpenAI, serving
    /// the images models gpt-image-1 and dall-e-3 and the video models sora-2 and sora-2-pro; and generation polls
    /// quick enough for a test (from 20 ms, at most 200 ms apart).
    /// </summary>
    public static Dictionary<string, string?> WithGenerationProvider(this Dictionary<string, string?> settings, FakeLlm fake, int index = 0, string name = "openai")
    {
        var prefix = $"Providers:{index}:";
        settings[prefix + "Name"] = name;
        settings[prefix + "Kind"] = "OpenAI";
        settings[prefix + "BaseUrl"] = fake.OpenAiEndpoint.AbsoluteUri;
        settings[prefix + "ApiKey"] = fake.ApiKey ?? "test-key";
        settings[prefix + "ImageModels:0"] = ImageModel;
        settings[prefix + "ImageModels:1"] = UrlImageModel;
        settings[prefix + "VideoModels:0"] = VideoModel;
        settings[prefix + "VideoModels:1"] = ProVideoModel;
        settings.TryAdd("Generation:PollInterval", "00:00:00.020");
        settings.TryAdd("Generation:MaxPollInterval", "00:00:00.200");
        return settings;
    }

    /// <summary>
    /// Funds the org's pool with <paramref name="micros"/> and moves it to the plan without quotas, so only credits limit
    /// what it generates; returns the pool's account id (for <c>BalanceAsync</c>).
    /// </summary>
    public static async Task<Guid> FundForGenerationAsync(this IdentityHost host, HttpClient client, Guid orgId, long micros = SdkFixture.Funds)
    {
        var account = await host.FundPoolAsync(orgId, micros);
        await GatewayTenants.OnUnlimitedPlanAsync(host, client, orgId);
        return account;
    }
}
