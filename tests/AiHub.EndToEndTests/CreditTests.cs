using System.Text.RegularExpressions;
using AiHub.Identity;
using static AiHub.EndToEndTests.AccountTests;
using static Microsoft.Playwright.Assertions;

namespace AiHub.EndToEndTests;

[Collection(SharedBrowser.Name)]
public sealed class CreditTests(BrowserFixture fixture)
{
    [Fact]
    public async Task An_admin_creates_a_promo_code_and_a_user_who_redeems_it_sees_the_credits_in_the_app_bar()
    {
        var adminEmail = Unique("promo-admin");
        await fixture.CreateAccountAsync(adminEmail, Password, "Ada Admin", Roles.Admin);
        var code = $"E2E-{Guid.NewGuid():N}"[..16].ToUpperInvariant();
        var admin = await SignedInAsync(fixture, adminEmail);
        await InteractiveAsync(admin);
        await admin.GetByTestId("nav-admin-promo-codes").ClickAsync();
        await Expect(admin).ToHaveURLAsync(new Regex("/admin/promo-codes$"));
        await admin.GetByTestId("promo-code").FillAsync(code.ToLowerInvariant());
        await admin.GetByTestId("promo-credits").FillAsync("7.5");
        await admin.GetByTestId("promo-max-uses").FillAsync("5");
        await admin.GetByTestId("promo-create").ClickAsync();
        await Expect(admin.GetByTestId("notice")).ToContainTextAsync(code);
        var row = admin.Locator($"[data-testid=promo-code-row][data-code='{code}']");
        await Expect(row.GetByTestId("promo-uses")).ToHaveTextAsync("0 of 5");
        await BrowserFixture.ScreenshotAsync(admin, "promo-codes.png");

        var userEmail = Unique("redeemer");
        await fixture.CreateAccountAsync(userEmail, Password, "Rita Redeemer");
        var user = await SignedInAsync(fixture, userEmail);
        await InteractiveAsync(user);
        // A new account starts with the FREE plan's sign-up grant of 10 credits.
        await Expect(user.GetByTestId("credit-balance")).ToHaveTextAsync("10 credits");
        await Expect(user.GetByTestId("nav-admin-promo-codes")).ToHaveCountAsync(0);
        await user.GetByTestId("nav-credits").ClickAsync();
        await Expect(user).ToHaveURLAsync(new Regex("/credits$"));
        await user.GetByTestId("redeem-code").FillAsync(code.ToLowerInvariant());
        await user.GetByTestId("redeem-submit").ClickAsync();

        await Expect(user.GetByTestId("notice")).ToContainTextAsync($"7.5 credits from {code}");
        await Expect(user.GetByTestId("credit-balance")).ToHaveTextAsync("17.5 credits");
        await Expect(user.GetByTestId("credits-available")).ToHaveTextAsync("17.5");
        await Expect(user.Locator("[data-testid=credits-entry][data-kind=promo]").GetByTestId("credits-entry-amount")).ToHaveTextAsync("+7.5");
        await BrowserFixture.ScreenshotAsync(user, "credits.png");

        await user.GetByTestId("redeem-code").FillAsync(code);
        await user.GetByTestId("redeem-submit").ClickAsync();
        await Expect(user.GetByTestId("form-problem")).ToContainTextAsync("already redeemed");
        await Expect(user.GetByTestId("credit-balance")).ToHaveTextAsync("17.5 credits");

        await admin.ReloadAsync();
        await Expect(admin.Locator($"[data-testid=promo-code-row][data-code='{code}']").GetByTestId("promo-uses")).ToHaveTextAsync("1 of 5");
    }

    [Fact]
    public async Task An_admin_sees_each_mistake_of_a_bulk_file_by_line_then_applies_a_good_one_and_adjusts_one_account()
    {
        var adminEmail = Unique("bulk-admin");
        await fixture.CreateAccountAsync(adminEmail, Password, "Bo Admin", Roles.Admin);
        var memberEmail = Unique("bulk-member");
        await fixture.CreateAccountAsync(memberEmail, Password, "Mo Member");
        var admin = await SignedInAsync(fixture, adminEmail);
        await InteractiveAsync(admin);
        await admin.GetByTestId("nav-admin-credits").ClickAsync();
        await Expect(admin).ToHaveURLAsync(new Regex("/admin/credits$"));

        await admin.GetByTestId("bulk-file").SetInputFilesAsync(new Microsoft.Playwright.FilePayload
        {
            Name = "credits.csv", MimeType = "text/csv",
            Buffer = System.Text.Encoding.UTF8.GetBytes($"email,credits,reason\n{memberEmail},5,fine\n{memberEmail},\"12,5x\",typo\n"),
        });
        await Expect(admin.GetByTestId("form-problem")).ToContainTextAsync("nothing was applied");
        await Expect(admin.GetByTestId("bulk-error")).ToContainTextAsync("line 3, column credits");
        await BrowserFixture.ScreenshotAsync(admin, "bulk-errors.png");

        await admin.GetByTestId("bulk-file").SetInputFilesAsync(new Microsoft.Playwright.FilePayload
        {
            Name = "credits.csv", MimeType = "text/csv",
            Buffer = System.Text.Encoding.UTF8.GetBytes($"email,credits,reason\n{memberEmail},5,fine\n{memberEmail},2.5,\"thanks, again\"\n"),
        });
        await Expect(admin.GetByTestId("bulk-summary")).ToContainTextAsync("2 rows applied, 7.5 credits");
        await Expect(admin.GetByTestId("bulk-errors")).ToHaveCountAsync(0);

        await admin.GetByTestId("adjust-email").FillAsync(memberEmail);
        await admin.GetByTestId("adjust-amount").FillAsync("-1.5");
        await admin.GetByTestId("adjust-reason").FillAsync("correction");
        await admin.GetByTestId("adjust-submit").ClickAsync();
        await Expect(admin.GetByTestId("notice")).ToContainTextAsync($"{memberEmail} now has 16 credits available");

        var member = await SignedInAsync(fixture, memberEmail);
        await InteractiveAsync(member);
        await Expect(member.GetByTestId("credit-balance")).ToHaveTextAsync("16 credits");
        await Expect(member.GetByTestId("nav-admin-credits")).ToHaveCountAsync(0);
    }
}
