using System.ComponentModel.DataAnnotations;
using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace AiHub.Infrastructure.Configuration;

/// <summary>Binds one feature's settings class to its configuration section and validates it before anything starts.</summary>
internal static partial class SettingsRegistration
{
    public static OptionsBuilder<T> AddSettings<T>(this IServiceCollection services, string section) where T : class
    {
        services.AddSingleton(new RegisteredSettings(typeof(T), section));
        services.AddSingleton<IValidateOptions<T>>(new DataAnnotationSettingsValidator<T>(section));
        return services.AddOptions<T>().BindConfiguration(section).ValidateOnStart();
    }

    /// <summary>Resolves every registered settings class, so that a bad value stops the process before it serves anything.</summary>
    /// <exception cref="InvalidConfigurationException">One or more settings are invalid.</exception>
    public static void ValidateAllSettings(this IServiceProvider services)
    {
        var configuration = services.GetRequiredService<IConfiguration>();
        var problems = new List<string>();
        foreach (var registered in services.GetServices<RegisteredSettings>())
        {
            var optionsType = typeof(IOptions<>).MakeGenericType(registered.Type);
            try
            {
                _ = optionsType.GetProperty(nameof(IOptions<object>.Value))!.GetValue(services.GetRequiredService(optionsType));
            }
            catch (TargetInvocationException e) when (e.InnerException is OptionsValidationException invalid)
            {
                problems.AddRange(invalid.Failures);
            }
            catch (TargetInvocationException e) when (e.InnerException is InvalidOperationException conversion)
            {
                problems.Add(DescribeConversionFailure(conversion, configuration, registered));
            }
        }
        if (problems.Count > 0)
            throw new InvalidConfigurationException(string.Join("; ", problems.Distinct()));
    }

    static string DescribeConversionFailure(InvalidOperationException e, IConfiguration configuration, RegisteredSettings registered)
    {
        var path = ConfigurationPath().Match(e.Message) is { Success: true } m ? m.Groups[1].Value : null;
        if (path is null)
            return e.Message;
        var value = configuration[path];
        var type = PropertyType(registered.Type, path[Math.Min(path.Length, registered.Section.Length + 1)..]);
        var expected = type switch
        {
            null => "a valid value",
            { IsEnum: true } => "one of " + string.Join(", ", Enum.GetNames(type)),
            _ when type == typeof(bool) => "true or false",
            _ when type == typeof(int) || type == typeof(long) => "a whole number",
            _ when type == typeof(Uri) => "an absolute URL",
            _ when type == typeof(TimeSpan) => "a duration such as 00:00:30",
            _ => "a valid " + type.Name,
        };
        return $"{path}: '{value}' is not valid; expected {expected}";
    }

    /// <summary>Follows a path such as <c>Smtp:Port</c> through nested settings objects.</summary>
    static Type? PropertyType(Type settingsType, string relativePath)
    {
        Type? type = settingsType;
        foreach (var name in relativePath.Split(':'))
        {
            var property = type?.GetProperty(name, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
            type = property is null ? null : Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        }
        return type;
    }

    [GeneratedRegex("at '([^']+)'")]
    private static partial Regex ConfigurationPath();

    internal sealed record RegisteredSettings(Type Type, string Section);
}

/// <summary>Runs data annotations (and <see cref="IValidatableObject"/>) and names each failure by its configuration path.</summary>
internal sealed class DataAnnotationSettingsValidator<T>(string section) : IValidateOptions<T> where T : class
{
    public ValidateOptionsResult Validate(string? name, T options)
    {
        var results = new List<ValidationResult>();
        if (Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true))
            return ValidateOptionsResult.Success;
        return ValidateOptionsResult.Fail(results.Select(r =>
            $"{section}:{string.Join(",", r.MemberNames.DefaultIfEmpty("?"))}: {r.ErrorMessage}"));
    }
}

internal sealed class InvalidConfigurationException(string message) : Exception(message);
