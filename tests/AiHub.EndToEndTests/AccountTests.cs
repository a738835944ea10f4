using System.Text.RegularExpressions;
using AiHub.IntegrationTests.Support;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace AiHub.EndToEndTests;

[Collection(SharedBrowser.Name)]
public sealed partial class AccountTests(BrowserFixture fixture)
{
    internal const string Password = "Correct-Horse-42";

    [Fact]
    public async Task A_new_account_signs_up_verifies_with_the_mailed_code_signs_in_sees_its_session_and_signs_out()
    {
        var ct = TestContext.Current.CancellationToken;
        var page = await fixture.NewPageAsync();
        var email = Unique("story");

        await page.GotoAsync(Url("/"));
        // Once the page is interactive the link is followed the same way every run; before, the form could be reloaded under the typing.
        await InteractiveAsync(page);
        await page.GetByTestId("register").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/account/register$"));
        await page.GetByTestId("register-email").FillAsync(email);
        await page.GetByTestId("register-display-name").FillAsync("Story Teller");
        await page.GetByTestId("register-password").FillAsync(Password);
        await page.GetByTestId("register-confirm-password").FillAsync(Password);
        await page.GetByTestId("register-submit").ClickAsync();

        await Expect(page).ToHaveURLAsync(new Regex(@"/account/verify\?email="));
        await Expect(page.GetByTestId("verify-email")).ToHaveValueAsync(email);
        var mail = await PickupDirectory.WaitForMessageAsync(fixture.MailDirectory, email, TimeSpan.FromSeconds(15), m => SixDigits().IsMatch(m.TextBody ?? ""));
        var code = SixDigits().Match(mail.TextBody!).Value;
        await page.GetByTestId("verify-code").FillAsync(code);
        await page.GetByTestId("verify-submit").ClickAsync();

        await Expect(page).ToHaveURLAsync(new Regex(@"/account/login\?verified=true"));
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("verified");
        await Expect(page.GetByTestId("login-email")).ToHaveValueAsync(email);
        await page.GetByTestId("login-password").FillAsync(Password);
        await page.GetByTestId("login-submit").ClickAsync();

        await Expect(page).ToHaveURLAsync(ChatHome());
        await InteractiveAsync(page);
        await Expect(page.GetByTestId("user-menu-button")).ToContainTextAsync("Story Teller");
        await page.GetByTestId("user-menu-button").ClickAsync();
        await page.GetByTestId("user-menu-sessions").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/account/sessions$"));
        await Expect(page.Locator("[data-testid=session][data-current=true]")).ToHaveCountAsync(1);
        await BrowserFixture.ScreenshotAsync(page, "account-sessions.png");

        await page.GetByTestId("user-menu-button").ClickAsync();
        await page.GetByTestId("sign-out").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex(@"/account/login\?signedOut=true$"));
        await Expect(page.GetByTestId("notice")).ToHaveTextAsync("You are signed out.");
        await Expect(page.GetByTestId("sign-in")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task A_wrong_password_is_answered_with_the_servers_message_and_the_email_is_kept()
    {
        var email = Unique("wrong");
        await fixture.CreateAccountAsync(email, Password);
        var page = await fixture.NewPageAsync();

        await page.GotoAsync(Url("/account/login"));
        await page.GetByTestId("login-email").FillAsync(email);
        await page.GetByTestId("login-password").FillAsync("Not-the-password-1");
        await page.GetByTestId("login-submit").ClickAsync();

        await Expect(page.GetByTestId("form-problem")).ToContainTextAsync("The email or password is not correct.");
        await Expect(page).ToHaveURLAsync(new Regex("/account/login$"));
        await Expect(page.GetByTestId("login-email")).ToHaveValueAsync(email);
        await Expect(page.GetByTestId("login-password")).ToHaveValueAsync("");
        await Expect(page.GetByTestId("sign-in")).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(page, "login-wrong-password.png");
    }

    [Fact]
    public async Task A_weak_password_is_refused_at_sign_up_with_the_rule()
    {
        var page = await fixture.NewPageAsync();

        await page.GotoAsync(Url("/account/register"));
        await Expect(page.GetByText("At least 10 characters")).ToBeVisibleAsync();
        await page.GetByTestId("register-email").FillAsync(Unique("weak"));
        await page.GetByTestId("register-password").FillAsync("onlylowercase");
        await page.GetByTestId("register-confirm-password").FillAsync("onlylowercase");
        await page.GetByTestId("register-submit").ClickAsync();

        await Expect(page.GetByTestId("form-problem")).ToContainTextAsync("The password is too weak.");
        await Expect(page.GetByTestId("register-password-error")).ToContainTextAsync("at least two kinds of characters");
        await Expect(page).ToHaveURLAsync(new Regex("/account/register$"));
        await BrowserFixture.ScreenshotAsync(page, "register-weak-password.png");
    }

    [Fact]
    public async Task A_page_for_signed_in_users_sends_a_visitor_to_sign_in_and_back()
    {
        var email = Unique("return");
        await fixture.CreateAccountAsync(email, Password, "Returning Visitor");
        var page = await fixture.NewPageAsync();

        await page.GotoAsync(Url("/account/sessions"));
        await Expect(page).ToHaveURLAsync(new Regex(@"/account/login\?ReturnUrl=%2Faccount%2Fsessions$", RegexOptions.IgnoreCase));
        await page.GetByTestId("login-email").FillAsync(email);
        await page.GetByTestId("login-password").FillAsync(Password);
        await page.GetByTestId("login-submit").ClickAsync();

        await Expect(page).ToHaveURLAsync(Url("/account/sessions"));
        await Expect(page.Locator("[data-testid=session][data-current=true]")).ToHaveCountAsync(1);
    }

    [Fact]
    public async Task The_account_page_shows_the_profile_and_saves_a_new_display_name()
    {
        var email = Unique("profile");
        await fixture.CreateAccountAsync(email, Password, "Old Name");
        var page = await SignedInAsync(email);

        await page.GotoAsync(Url("/account"));
        await InteractiveAsync(page);
        await Expect(page.GetByTestId("profile-email")).ToHaveTextAsync(email);
        await Expect(page.GetByTestId("profile-verified")).ToBeVisibleAsync();
        await Expect(page.GetByTestId("profile-roles")).ToContainTextAsync("User");
        await page.GetByTestId("profile-display-name").FillAsync("New Name");
        await page.GetByTestId("profile-save").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToHaveTextAsync("Saved.");
        await Expect(page.GetByTestId("user-menu-button")).ToContainTextAsync("New Name");
        await BrowserFixture.ScreenshotAsync(page, "account-profile.png");

        await page.ReloadAsync();
        await Expect(page.GetByTestId("user-menu-button")).ToContainTextAsync("New Name");
    }

    [Fact]
    public async Task Two_factor_sign_in_is_set_up_from_the_qr_page_and_then_asked_for_at_sign_in()
    {
        var email = Unique("totp");
        await fixture.CreateAccountAsync(email, Password);
        var page = await SignedInAsync(email);

        await page.GotoAsync(Url("/account/two-factor"));
        await InteractiveAsync(page);
        await Expect(page.GetByTestId("two-factor-status")).ToHaveTextAsync("Off");
        await page.GetByTestId("two-factor-start").ClickAsync();
        await Expect(page.GetByTestId("two-factor-qr").Locator("svg")).ToBeVisibleAsync();
        var key = await page.GetByTestId("two-factor-key").InnerTextAsync();
        await BrowserFixture.ScreenshotAsync(page, "two-factor-setup.png");
        await page.GetByTestId("two-factor-confirm-code").FillAsync(Totp.Code(key));
        await page.GetByTestId("two-factor-confirm").ClickAsync();
        await Expect(page.GetByTestId("recovery-codes").Locator("li")).ToHaveCountAsync(10);
        await page.GetByTestId("recovery-codes-done").ClickAsync();
        await Expect(page.GetByTestId("two-factor-status")).ToHaveTextAsync("On");

        await page.GetByTestId("user-menu-button").ClickAsync();
        await page.GetByTestId("sign-out").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex(@"/account/login\?signedOut=true$"));
        await page.GetByTestId("login-email").FillAsync(email);
        await page.GetByTestId("login-password").FillAsync(Password);
        await page.GetByTestId("login-submit").ClickAsync();
        await Expect(page.GetByTestId("login-as")).ToContainTextAsync(email);
        await page.GetByTestId("login-code").FillAsync("000000");
        await page.GetByTestId("login-submit").ClickAsync();
        await Expect(page.GetByTestId("form-problem")).ToContainTextAsync("The two-factor code is not correct.");
        // The confirmation used this step's code, and a code works once; the next step's code is accepted too.
        await page.GetByTestId("login-code").FillAsync(Totp.Code(key, DateTimeOffset.UtcNow.AddSeconds(30)));
        await page.GetByTestId("login-submit").ClickAsync();

        await Expect(page).ToHaveURLAsync(ChatHome());
        await Expect(page.GetByTestId("user-menu-button")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task A_signed_in_user_on_a_static_page_sees_their_name_and_can_sign_out()
    {
        var email = Unique("static");
        await fixture.CreateAccountAsync(email, Password, "Static Reader");
        var page = await SignedInAsync(email);

        await page.GotoAsync(Url("/account/forgot-password"));
        await Expect(page.GetByTestId("user-name")).ToHaveTextAsync("Static Reader");
        await page.GetByTestId("sign-out").ClickAsync();

        await Expect(page).ToHaveURLAsync(new Regex(@"/account/login\?signedOut=true$"));
        await Expect(page.GetByTestId("sign-in")).ToBeVisibleAsync();
    }

    /// <remarks>From the interactive home page, so that the sign-in page is reached the way a user reaches it: it must leave the circuit to set the cookie.</remarks>
    Task<IPage> SignedInAsync(string email) => SignedInAsync(fixture, email);

    internal static async Task<IPage> SignedInAsync(BrowserFixture fixture, string email, bool injectsScripts = false)
    {
        var page = await fixture.NewPageAsync(injectsScripts);
        var home = new Uri(fixture.BaseAddress, "/").ToString();
        await page.GotoAsync(home);
        await InteractiveAsync(page);
        await page.GetByTestId("sign-in").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Uri(fixture.BaseAddress, "/account/login").ToString());
        await page.GetByTestId("login-email").FillAsync(email);
        await page.GetByTestId("login-password").FillAsync(Password);
        await page.GetByTestId("login-submit").ClickAsync();
        // A signed-in user's home is their chat, in their personal org's first workspace.
        await Expect(page).ToHaveURLAsync(ChatHome());
        return page;
    }

    /// <summary>A prerendered page ignores clicks until its circuit is up; the layout says when it is.</summary>
    internal static Task InteractiveAsync(IPage page) => page.Locator("[data-interactive=true]").First.WaitForAsync();

    string Url(string path) => new Uri(fixture.BaseAddress, path).ToString();

    internal static string Unique(string name) => $"{name}-{Guid.NewGuid():N}"[..(name.Length + 9)] + "@example.com";

    [GeneratedRegex("/orgs/[0-9a-f-]{36}/workspaces/[0-9a-f-]{36}/chat$")]
    internal static partial Regex ChatHome();

    [GeneratedRegex(@"\b\d{6}\b")]
    internal static partial Regex SixDigits();
}
