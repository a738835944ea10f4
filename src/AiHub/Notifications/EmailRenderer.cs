using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Web;

namespace AiHub.Notifications;

/// <summary>Renders a template component to an HTML string, outside of any request or circuit.</summary>
internal sealed class EmailRenderer(IServiceProvider services, ILoggerFactory loggers)
{
    public async Task<string> RenderAsync<TComponent>(Dictionary<string, object?> parameters) where TComponent : IComponent
    {
        await using var renderer = new HtmlRenderer(services, loggers);
        return await renderer.Dispatcher.InvokeAsync(async () =>
        {
            var output = await renderer.RenderComponentAsync<TComponent>(ParameterView.FromDictionary(parameters));
            return output.ToHtmlString();
        });
    }
}
