namespace AiHub.Identity.Pages;

internal static class PasswordRule
{
    /// <summary>What <see cref="PasswordPolicy"/> asks for, said before the user hits it.</summary>
    public static readonly string Text =
        $"At least {PasswordPolicy.MinimumLength} characters, not all of one kind: mix lower case, upper case, digits or symbols.";
}
