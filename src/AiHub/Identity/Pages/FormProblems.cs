using System.Runtime.CompilerServices;
using AiHub.Infrastructure.Errors;
using Microsoft.AspNetCore.Components.Forms;

namespace AiHub.Identity.Pages;

internal static class FormProblems
{
    static readonly ConditionalWeakTable<EditContext, ValidationMessageStore> Stores = new();

    /// <summary>
    /// Puts the problem's field messages under the inputs they name (the form model's property of the same name)
    /// and returns what the alert above the form says: the title, and the detail unless the fields already show it.
    /// </summary>
    public static (string Title, string? Detail) Show(this EditContext form, ProblemException problem)
    {
        var store = Stores.GetValue(form, Track);
        store.Clear();
        var shown = false;
        foreach (var (key, messages) in problem.Errors ?? new Dictionary<string, string[]>())
        {
            if (key.Length == 0 || form.Model.GetType().GetProperty(char.ToUpperInvariant(key[0]) + key[1..]) is not { } property)
                continue;
            store.Add(form.Field(property.Name), messages);
            shown = true;
        }
        form.NotifyValidationStateChanged();
        return (problem.Title, shown ? null : problem.Detail);
    }

    // In an interactive form the server's messages go when the field is edited or the form is sent again.
    static ValidationMessageStore Track(EditContext form)
    {
        var store = new ValidationMessageStore(form);
        form.OnFieldChanged += (_, e) => store.Clear(e.FieldIdentifier);
        form.OnValidationRequested += (_, _) => store.Clear();
        return store;
    }
}
