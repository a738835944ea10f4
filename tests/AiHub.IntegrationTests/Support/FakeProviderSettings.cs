using AiHub.Fixtures;

namespace AiHub.IntegrationTests.Support;

/// <summary>The settings that make <paramref name="fake"/>'s OpenAI-compatible endpoint the first provider, named "mock".</summary>
public static class FakeProviderSettings
{
    public static Dictionary<string, string?> WithMockProvider(this Dictionary<string, string?> settings, FakeLlm fake, string model)
    {
        settings["Providers:0:Name"] = "mock";
        settings["Providers:0:Kind"] = "OpenAICompatible";
        settings["Providers:0:BaseUrl"] = fake.OpenAiEndpoint.AbsoluteUri;
        settings["Providers:0:ApiKey"] = "test-key";
        settings["Providers:0:Models:0"] = model;
        return settings;
    }
}
