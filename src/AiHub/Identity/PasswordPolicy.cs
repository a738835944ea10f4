using Microsoft.AspNetCore.Identity;

namespace AiHub.Identity;

/// <summary>At least ten characters (Identity's length rule) and not all of one class, which a dictionary attack tries first.</summary>
internal sealed class PasswordPolicy : IPasswordValidator<AppUser>
{
    public const int MinimumLength = 10;

    public Task<IdentityResult> ValidateAsync(UserManager<AppUser> manager, AppUser user, string? password)
    {
        if (string.IsNullOrEmpty(password) || password.Length < MinimumLength)
            return Task.FromResult(IdentityResult.Success);
        var classes = password.Select(ClassOf).Distinct().Count();
        return Task.FromResult(classes > 1
            ? IdentityResult.Success
            : IdentityResult.Failed(new IdentityError
            {
                Code = "PasswordSingleClass",
                Description = "Passwords must mix at least two kinds of characters (lower case, upper case, digits, symbols).",
            }));
    }

    static int ClassOf(char c) => char.IsLower(c) ? 0 : char.IsUpper(c) ? 1 : char.IsDigit(c) ? 2 : 3;
}
