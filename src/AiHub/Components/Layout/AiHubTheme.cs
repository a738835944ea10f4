using MudBlazor;

namespace AiHub.Components.Layout;

/// <remarks>
/// Every colour that carries text meets WCAG 2.1 AA (4.5:1) against the surface it is drawn on and against its contrast
/// text: MudBlazor's defaults (white on #00c853, #ff9800, #2196f3; grey secondary text in the dark) do not, and the
/// accessibility end-to-end test checks every page in both themes.
/// </remarks>
internal static class AiHubTheme
{
    const string DarkInk = "rgba(0,0,0,0.87)";

    public static readonly MudTheme Theme = new()
    {
        PaletteLight = new PaletteLight
        {
            Primary = "#3949ab",
            Secondary = "#00796b",
            Success = "#2e7d32",
            Info = "#0277bd",
            Warning = "#a15c00",
            Error = "#d32f2f",
            AppbarBackground = "#283593",
        },
        PaletteDark = new PaletteDark
        {
            Primary = "#9fa8da",
            PrimaryContrastText = DarkInk,
            Secondary = "#80cbc4",
            SecondaryContrastText = DarkInk,
            Success = "#81c784",
            SuccessContrastText = DarkInk,
            Info = "#4fc3f7",
            InfoContrastText = DarkInk,
            Warning = "#ffb74d",
            WarningContrastText = DarkInk,
            Error = "#ef9a9a",
            ErrorContrastText = DarkInk,
            TextSecondary = "rgba(255,255,255,0.68)",
            AppbarBackground = "#1a1a27",
        },
    };
}
