using System.ComponentModel.DataAnnotations;
using System.Globalization;

namespace AiHub.Infrastructure.Configuration;

/// <summary>
/// A duration between two bounds. Replaces <c>[Range(typeof(TimeSpan), …)]</c>, whose lazy conversion of its
/// bounds is not thread-safe when hosts validate settings at the same time.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class DurationAttribute(string minimum, string maximum) : ValidationAttribute
{
    public TimeSpan Minimum { get; } = TimeSpan.Parse(minimum, CultureInfo.InvariantCulture);

    public TimeSpan Maximum { get; } = TimeSpan.Parse(maximum, CultureInfo.InvariantCulture);

    public override bool IsValid(object? value) => value is TimeSpan duration && duration >= Minimum && duration <= Maximum;

    public override string FormatErrorMessage(string name) => $"The field {name} must be between {Minimum} and {Maximum}.";
}
