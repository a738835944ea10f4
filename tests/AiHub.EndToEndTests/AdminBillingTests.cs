using System.Text.Json;
using System.Text.RegularExpressions;
using AiHub.Billing;
using AiHub.Billing.Payments;
using AiHub.Data;
using AiHub.IntegrationTests.Support;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using static AiHub.EndToEndTests.AccountTests;
using static Microsoft.Playwright.Assertions;

namespace AiHub.EndToEndTests;

[Collection(SharedBrowser.Name)]
public sealed class AdminBillingTests(BrowserFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_admin_marks_a_bank_transfer_paid_with_a_reason_sees_it_in_the_list_and_refunds_part_of_it()
    {
        var admin = Unique("billing-admin");
        await fixture.CreateAccountAsync(admin, Password, "Bea Bookkeeper", AiHub.Identity.Roles.SuperAdmin);
        var owner = Unique("payer");
        await fixture.CreateAccountAsync(owner, Password, "Tobias Transferwell");
        var orgId = await PersonalOrgAsync(owner);
        var page = await SignedInAsync(fixture, admin, injectsScripts: true);
        await InteractiveAsync(page);

        await page.GetByTestId("nav-admin-billing").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/admin/billing$"));
        await Expect(page.GetByTestId("revenue-table")).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Tab, new() { Name = "Organisations" }).ClickAsync();
        var row = page.Locator($"[data-testid=billing-org][data-org-id='{orgId}']");
        await row.GetByTestId("billing-org-mark-paid").ClickAsync();
        await Expect(page.GetByTestId("mark-paid-dialog")).ToBeVisibleAsync();
        await Expect(page.GetByTestId("mark-paid-confirm")).ToBeDisabledAsync();
        await page.GetByTestId("mark-paid-reason").FillAsync("Bank transfer ref 99-1207");
        await page.GetByTestId("mark-paid-confirm").ClickAsync();

        await Expect(page.GetByTestId("notice")).ToHaveTextAsync($"USD 10.00 from Tobias Transferwell's org is recorded as paid.");
        await Expect(row.GetByTestId("billing-org-last-payment")).ToContainTextAsync("USD 10.00 (manual)");
        await BrowserFixture.ScreenshotAsync(page, "admin-billing-orgs.png");

        await row.GetByTestId("billing-org-payments").ClickAsync();
        var payment = page.GetByTestId("payment-row").First;
        await payment.GetByTestId("payment-refund").ClickAsync();
        await page.GetByTestId("refund-amount").FillAsync("2.50");
        await page.GetByTestId("refund-reason").FillAsync("Customer paid twice for the fee");
        await page.GetByTestId("refund-confirm").ClickAsync();
        await Expect(payment.GetByTestId("payment-refunded")).ToHaveTextAsync("USD 2.50");
        await Expect(payment.GetByTestId("payment-status")).ToHaveTextAsync("partially refunded");

        await using var scope = fixture.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var recorded = await db.Set<Payment>().IgnoreQueryFilters().SingleAsync(p => p.OrganizationId == orgId, Ct);
        Assert.Equal("manual", recorded.Gateway);
        Assert.Equal(250, recorded.RefundedMinor);
        var audits = await db.AuditEvents.AsNoTracking().Where(e => e.OrganizationId == orgId && (e.Kind == BillingAuditKinds.ManualPayment || e.Kind == BillingAuditKinds.ManualRefund)).ToListAsync(Ct);
        Assert.Contains(audits, e => e.Kind == BillingAuditKinds.ManualPayment && e.Data!.Contains("Bank transfer ref 99-1207", StringComparison.Ordinal));
        Assert.Contains(audits, e => e.Kind == BillingAuditKinds.ManualRefund && e.Data!.Contains("Customer paid twice", StringComparison.Ordinal));

        // Every tab passes axe at a desktop and a phone width, and fits the phone's screen.
        var axe = await File.ReadAllTextAsync(NodeClients.Module("axe-core/axe.min.js"), Ct);
        var problems = new List<string>();
        foreach (var width in new[] { 1280, 390 })
        {
            await page.SetViewportSizeAsync(width, 900);
            foreach (var tab in new[] { "Revenue", "Organisations", "Reconciliation" })
            {
                await page.GetByRole(AriaRole.Tab, new() { Name = tab }).ClickAsync();
                await page.Mouse.MoveAsync(0, 0);
                problems.AddRange(await AxeAsync(page, axe, $"{tab} at {width}px"));
                var size = await page.EvaluateAsync<int[]>("() => [document.scrollingElement.scrollWidth, window.innerWidth]");
                if (size[0] > size[1])
                    problems.Add($"{tab} at {width}px: the page is {size[0]}px wide in a {size[1]}px window");
                await BrowserFixture.ScreenshotAsync(page, $"admin-billing-{tab.ToLowerInvariant()}-{width}.png");
            }
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    static async Task<List<string>> AxeAsync(IPage page, string axe, string where)
    {
        if (!await page.EvaluateAsync<bool>("() => typeof axe !== 'undefined'"))
            await page.AddScriptTagAsync(new PageAddScriptTagOptions { Content = axe });
        var result = await page.EvaluateAsync<JsonElement>(
            """
            async () => {
              const r = await axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] });
              return r.violations.map(v => ({ id: v.id, help: v.help, targets: v.nodes.slice(0, 5).map(n => n.target.join(' ')) }));
            }
            """);
        return [.. result.EnumerateArray().Select(v => $"{where}: {v.GetProperty("id").GetString()} ({v.GetProperty("help").GetString()}): "
            + string.Join(" | ", v.GetProperty("targets").EnumerateArray().Select(t => t.GetString())))];
    }

    async Task<Guid> PersonalOrgAsync(string email)
    {
        await using var scope = fixture.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var userId = db.Users.Single(u => u.Email == email).Id;
        return (await Orgs.PersonalOrgIdAsync(db, userId, CancellationToken.None))!.Value;
    }
}
