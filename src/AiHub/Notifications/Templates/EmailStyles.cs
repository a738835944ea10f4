namespace AiHub.Notifications.Templates;

/// <summary>Inline styles only: most mail clients drop style sheets and classes.</summary>
internal static class EmailStyles
{
    const string Font = "font-family:-apple-system,BlinkMacSystemFont,Segoe UI,Roboto,Helvetica,Arial,sans-serif;";

    public const string Body = "margin:0;padding:0;background-color:#f4f5f7;";
    public const string Outer = "width:100%;background-color:#f4f5f7;";
    public const string Card = "width:100%;max-width:560px;background-color:#ffffff;border:1px solid #e5e7eb;border-radius:8px;";
    public const string Brand = Font + "padding:24px 32px 0 32px;font-size:20px;font-weight:700;color:#4f46e5;";
    public const string Content = Font + "padding:16px 32px 32px 32px;font-size:16px;line-height:24px;color:#1f2937;";
    public const string Footer = Font + "padding:16px 32px;font-size:12px;line-height:18px;color:#6b7280;";
    public const string Paragraph = "margin:0 0 16px 0;";
    public const string Code = "margin:24px 0;font-family:SFMono-Regular,Consolas,Liberation Mono,Menlo,monospace;font-size:32px;font-weight:700;letter-spacing:8px;color:#111827;";
    public const string Button = Font + "display:inline-block;padding:12px 24px;background-color:#4f46e5;border-radius:6px;color:#ffffff;font-size:16px;font-weight:600;text-decoration:none;";
    public const string Link = "color:#4f46e5;word-break:break-all;";
    public const string Hint = "margin:0 0 16px 0;font-size:14px;line-height:20px;color:#6b7280;";
    public const string Preheader = "display:none;max-height:0;overflow:hidden;mso-hide:all;";
}
