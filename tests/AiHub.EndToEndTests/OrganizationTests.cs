using System.Text.RegularExpressions;
using AiHub.IntegrationTests.Support;
using Microsoft.Playwright;
using static AiHub.EndToEndTests.AccountTests;
using static Microsoft.Playwright.Assertions;

namespace AiHub.EndToEndTests;

[Collection(SharedBrowser.Name)]
public sealed partial class OrganizationTests(BrowserFixture fixture)
{
    [Fact]
    public async Task A_user_starts_in_their_personal_org_creates_an_org_with_a_workspace_and_a_team_and_sees_them_in_the_activity()
    {
        var email = Unique("founder");
        await fixture.CreateAccountAsync(email, Password, "Olive Founder");
        var page = await SignedInAsync(fixture, email);
        await InteractiveAsync(page);

        await Expect(page.GetByTestId("org-switcher")).ToContainTextAsync("Olive Founder's org");
        await page.GetByTestId("org-switcher").ClickAsync();
        await Expect(page.Locator("[data-testid=org-switcher-item][data-personal=true]")).ToContainTextAsync("Olive Founder's org");
        await BrowserFixture.ScreenshotAsync(page, "org-switcher.png");
        await page.GetByTestId("org-switcher-new").ClickAsync();

        await Expect(page).ToHaveURLAsync(new Regex("/orgs/new$"));
        await page.GetByTestId("org-new-name").FillAsync("Acme Research");
        await page.GetByTestId("org-new-submit").ClickAsync();
        await Expect(page).ToHaveURLAsync(OrgUrl());
        await Expect(page.GetByTestId("org-overview-name")).ToHaveTextAsync("Acme Research");
        await Expect(page.GetByTestId("org-role")).ToHaveTextAsync("Owner");
        await Expect(page.GetByTestId("org-switcher")).ToContainTextAsync("Acme Research");
        await BrowserFixture.ScreenshotAsync(page, "org-overview.png");

        await page.GetByTestId("nav-org-workspaces").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/workspaces$"));
        await page.GetByTestId("workspace-new-name").FillAsync("Support bot");
        await page.GetByTestId("workspace-new-description").FillAsync("Answers customers' questions.");
        await page.GetByTestId("workspace-new-system-prompt").FillAsync("You are a patient support agent.");
        await page.GetByTestId("workspace-new-submit").ClickAsync();
        var workspace = page.Locator("[data-testid=workspace][data-name='Support bot']");
        await Expect(workspace.GetByTestId("workspace-model")).ToHaveTextAsync("the platform's default");
        await Expect(workspace.GetByTestId("workspace-description")).ToHaveTextAsync("Answers customers' questions.");
        await BrowserFixture.ScreenshotAsync(page, "org-workspaces.png");

        await page.GetByTestId("nav-org-teams").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/teams$"));
        await page.GetByTestId("team-new-name").FillAsync("Research");
        await page.GetByTestId("team-new-submit").ClickAsync();
        var team = page.Locator("[data-testid=team][data-name=Research]");
        await Expect(team).ToBeVisibleAsync();
        await team.GetByTestId("team-add-member").SelectOptionAsync(new SelectOptionValue { Label = email });
        await team.GetByTestId("team-add-lead").CheckAsync();
        await team.GetByTestId("team-add-submit").ClickAsync();
        await Expect(team.Locator($"[data-testid=team-member][data-email='{email}']").GetByTestId("team-lead")).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(page, "org-teams.png");

        await page.GetByTestId("nav-org-activity").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/activity$"));
        var texts = page.GetByTestId("activity-text");
        await Expect(texts.First).ToHaveTextAsync($"added {email} to the team Research as its lead");
        await Expect(page.Locator("[data-testid=activity-event][data-kind='team.created']").GetByTestId("activity-text")).ToHaveTextAsync("created the team Research");
        await Expect(page.Locator("[data-testid=activity-event][data-kind='workspace.created']").GetByTestId("activity-text")).ToHaveTextAsync(["created the workspace Support bot", "created the workspace General"]);
        await Expect(page.Locator("[data-testid=activity-event][data-kind='org.created']").GetByTestId("activity-actor")).ToHaveTextAsync(email);
        await BrowserFixture.ScreenshotAsync(page, "org-activity.png");
    }

    [Fact]
    public async Task An_invited_person_signs_up_from_the_link_accepts_and_appears_among_the_members()
    {
        var owner = Unique("owner");
        var invitee = Unique("invitee");
        await fixture.CreateAccountAsync(owner, Password, "Ona Owner");
        var page = await NewOrgAsync(fixture, owner, "Invite Co");

        await page.GetByTestId("nav-org-members").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/members$"));
        await page.GetByTestId("invite-email").FillAsync(invitee);
        await page.GetByTestId("invite-role").SelectOptionAsync("Manager");
        await page.GetByTestId("invite-submit").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToContainTextAsync(invitee);
        await Expect(page.Locator($"[data-testid=invitation][data-email='{invitee}']")).ToContainTextAsync("Manager");
        await BrowserFixture.ScreenshotAsync(page, "org-members-invited.png");

        var mail = await PickupDirectory.WaitForMessageAsync(fixture.MailDirectory, invitee, TimeSpan.FromSeconds(15), m => InvitationLink().IsMatch(m.TextBody ?? ""));
        var link = InvitationLink().Match(mail.TextBody!).Value;
        var guest = await fixture.NewPageAsync();
        await guest.GotoAsync(Url(link));
        await Expect(guest.GetByTestId("invitation-org")).ToHaveTextAsync("Invite Co");
        await Expect(guest.GetByTestId("invitation-role")).ToHaveTextAsync("Manager");
        await Expect(guest.GetByTestId("invitation-inviter")).ToHaveTextAsync("Ona Owner");
        await Expect(guest.GetByTestId("invitation-anonymous")).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(guest, "invitation-anonymous.png");

        await InteractiveAsync(guest);
        await guest.GetByTestId("invitation-register").ClickAsync();
        await Expect(guest).ToHaveURLAsync(new Regex(@"/account/register\?returnUrl="));
        await guest.GetByTestId("register-email").FillAsync(invitee);
        await guest.GetByTestId("register-password").FillAsync(Password);
        await guest.GetByTestId("register-confirm-password").FillAsync(Password);
        await guest.GetByTestId("register-submit").ClickAsync();
        await Expect(guest).ToHaveURLAsync(new Regex(@"/account/verify\?email=.*&returnUrl="));
        var codeMail = await PickupDirectory.WaitForMessageAsync(fixture.MailDirectory, invitee, TimeSpan.FromSeconds(15),
            m => !InvitationLink().IsMatch(m.TextBody ?? "") && SixDigits().IsMatch(m.TextBody ?? ""));
        await guest.GetByTestId("verify-code").FillAsync(SixDigits().Match(codeMail.TextBody!).Value);
        await guest.GetByTestId("verify-submit").ClickAsync();
        await Expect(guest).ToHaveURLAsync(new Regex(@"/account/login\?verified=true.*&returnUrl="));
        await guest.GetByTestId("login-password").FillAsync(Password);
        await guest.GetByTestId("login-submit").ClickAsync();

        await Expect(guest).ToHaveURLAsync(Url(link));
        await InteractiveAsync(guest);
        await guest.GetByTestId("invitation-accept").ClickAsync();
        await Expect(guest).ToHaveURLAsync(OrgUrl());
        await Expect(guest.GetByTestId("org-overview-name")).ToHaveTextAsync("Invite Co");
        await Expect(guest.GetByTestId("org-role")).ToHaveTextAsync("Manager");
        await Expect(guest.GetByTestId("org-switcher")).ToContainTextAsync("Invite Co");

        await page.ReloadAsync();
        await Expect(page.Locator($"[data-testid=member][data-email='{invitee}']")).ToContainTextAsync("Manager");
        await Expect(page.GetByTestId("invitations-empty")).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(page, "org-members.png");
    }

    [Fact]
    public async Task Someone_opening_another_users_org_sees_that_it_does_not_exist()
    {
        var owner = Unique("private");
        var stranger = Unique("stranger");
        await fixture.CreateAccountAsync(owner, Password, "Private Person");
        await fixture.CreateAccountAsync(stranger, Password);
        var page = await NewOrgAsync(fixture, owner, "Secret Plans");
        var orgPath = new Uri(page.Url).AbsolutePath;

        var other = await SignedInAsync(fixture, stranger);
        foreach (var path in new[] { orgPath, orgPath + "/members", orgPath + "/workspaces", orgPath + "/teams", orgPath + "/activity" })
        {
            var response = await other.GotoAsync(Url(path));
            Assert.Equal(404, response!.Status);
            await Expect(other.GetByTestId("org-not-found")).ToBeVisibleAsync();
            await Expect(other.GetByText("Secret Plans")).ToHaveCountAsync(0);
        }
        await BrowserFixture.ScreenshotAsync(other, "org-not-found.png");
    }

    [Fact]
    public async Task An_API_key_is_shown_once_works_on_the_API_and_stops_when_revoked()
    {
        var email = Unique("keys");
        await fixture.CreateAccountAsync(email, Password, "Kay Holder");
        var page = await NewOrgAsync(fixture, email, "Key Makers");
        var orgId = page.Url.Split('/')[^1];

        await page.GetByTestId("nav-org-api-keys").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/api-keys$"));
        await InteractiveAsync(page);
        await page.GetByTestId("api-key-name").FillAsync("ci pipeline");
        await page.GetByLabel("workspaces:read").CheckAsync();
        await page.GetByTestId("api-key-create").ClickAsync();
        var secret = (await page.GetByTestId("api-key-secret").TextContentAsync())!.Trim();
        await BrowserFixture.ScreenshotAsync(page, "org-api-keys.png");
        using var api = new HttpClient { BaseAddress = fixture.BaseAddress };
        api.DefaultRequestHeaders.Authorization = new("Bearer", secret);
        using var allowed = await api.GetAsync($"/api/orgs/{orgId}/workspaces", TestContext.Current.CancellationToken);
        using var refused = await api.GetAsync($"/api/orgs/{orgId}/members", TestContext.Current.CancellationToken);

        await page.ReloadAsync();
        await InteractiveAsync(page);
        await Expect(page.GetByTestId("api-key-secret")).ToHaveCountAsync(0);
        await Expect(page.Locator("[data-testid=api-key][data-name='ci pipeline']")).ToContainTextAsync("workspaces:read");
        await page.GetByTestId("api-key-revoke").ClickAsync();
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Revoke" }).ClickAsync();
        await Expect(page.GetByTestId("api-key-revoked")).ToBeVisibleAsync();
        using var afterRevoke = await api.GetAsync($"/api/orgs/{orgId}/workspaces", TestContext.Current.CancellationToken);

        Assert.Matches("^ahk_[a-z0-9]{8}_[A-Za-z0-9]{32,}$", secret);
        Assert.Equal(System.Net.HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, afterRevoke.StatusCode);
    }

    /// <summary>Signed in as <paramref name="email"/>, on the overview of a new org of theirs.</summary>
    internal static async Task<IPage> NewOrgAsync(BrowserFixture fixture, string email, string name)
    {
        var page = await SignedInAsync(fixture, email);
        await page.GotoAsync(new Uri(fixture.BaseAddress, "/orgs/new").ToString());
        await InteractiveAsync(page);
        await page.GetByTestId("org-new-name").FillAsync(name);
        await page.GetByTestId("org-new-submit").ClickAsync();
        await Expect(page).ToHaveURLAsync(OrgUrl());
        await Expect(page.GetByTestId("org-overview-name")).ToHaveTextAsync(name);
        return page;
    }

    string Url(string path) => new Uri(fixture.BaseAddress, path).ToString();

    static Regex OrgUrl() => new("/orgs/[0-9a-f-]{36}$");

    [GeneratedRegex(@"/invitations/inv_[A-Za-z0-9_-]+")]
    private static partial Regex InvitationLink();
}
