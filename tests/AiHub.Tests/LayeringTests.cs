using Mono.Cecil;
using Mono.Cecil.Cil;

namespace AiHub.Tests;

/// <summary>
/// The feature folders form layers: a feature may use the shared code below it and the features below it, never one
/// above it, so no two features depend on each other. The rule is read from the compiled IL (signatures, bodies,
/// attributes and the code generated for Razor, lambdas and async methods), so no edge hides behind <c>var</c>.
/// </summary>
public sealed class LayeringTests
{
    /// <summary>Bottom to top. Namespaces in one entry form one layer.</summary>
    static readonly string[][] Layers =
    [
        ["AiHub.Infrastructure", "AiHub.Data"],
        ["AiHub.Notifications"],
        ["AiHub.Identity"],
        ["AiHub.Organizations"],
        ["AiHub.Credits"],
        ["AiHub.Chat"],
        ["AiHub.Knowledge"],
        ["AiHub.Generation"],
        ["AiHub.Gateway"],
        ["AiHub.Billing"],
        ["AiHub.Mcp"],
        ["AiHub.Admin"],
        ["AiHub.Components"],
    ];

    /// <summary>Upward edges that stay, each with the reason docs/decisions/0012-feature-boundaries.md gives.</summary>
    static readonly Dictionary<(string From, string To), string> Kept = new()
    {
        [("AiHub.Data.AppDbContext", "AiHub.Identity.AppUser")] = "ASP.NET Core Identity's store needs the user type in the context's base class.",
        [("AiHub.Data.AppDbContext", "AiHub.Identity.AppRole")] = "ASP.NET Core Identity's store needs the role type in the context's base class.",
        [("AiHub.Data.AppDbContext", "AiHub.Organizations.Organization")] = "The migrations' foreign key names were derived from this set's name.",
        [("AiHub.Data.AppDbContext", "AiHub.Organizations.Workspace")] = "The migrations' foreign key names were derived from this set's name.",
        [("AiHub.Data.AppDbContext", "AiHub.Organizations.ApiKeys.ApiKey")] = "The migrations' foreign key names were derived from this set's name.",
    };

    static readonly Lazy<List<Edge>> Edges = new(ReadEdges);

    [Fact]
    public void No_feature_depends_on_a_feature_above_it()
    {
        var upward = Edges.Value
            .Where(e => LayerOf(e.To) > LayerOf(e.From) && !Kept.ContainsKey((e.From, e.To)))
            .Select(e => $"{Feature(e.From)} -> {Feature(e.To)}: {e.From} uses {e.To}")
            .Distinct()
            .Order(StringComparer.Ordinal)
            .ToList();

        Assert.True(upward.Count == 0, $"{upward.Count} uses of a layer above:\n" + string.Join("\n", upward.Take(200)));
    }

    [Fact]
    public void No_two_features_depend_on_each_other()
    {
        var pairs = Edges.Value
            .Where(e => !Kept.ContainsKey((e.From, e.To)))
            .Select(e => (From: Feature(e.From), To: Feature(e.To)))
            .Where(p => p.From != p.To && LayerOf(p.From) != LayerOf(p.To))
            .ToHashSet();

        var cycles = pairs.Where(p => pairs.Contains((p.To, p.From)) && string.CompareOrdinal(p.From, p.To) < 0)
            .Select(p => $"{p.From} <-> {p.To}")
            .ToList();

        Assert.True(cycles.Count == 0, "Features that depend on each other:\n" + string.Join("\n", cycles));
    }

    [Fact]
    public void Every_feature_has_a_layer()
    {
        var unplaced = Module().Value.Types
            .Select(t => t.Namespace)
            .Where(ns => ns.StartsWith("AiHub.", StringComparison.Ordinal) && LayerOf(ns) < 0)
            .Select(ns => ns.Split('.')[1])
            .Distinct()
            .ToList();

        Assert.True(unplaced.Count == 0, "Feature folders missing from the layers: " + string.Join(", ", unplaced));
    }

    [Fact]
    public void Kept_edges_are_still_used()
    {
        var used = Edges.Value.Select(e => (e.From, e.To)).ToHashSet();

        Assert.All(Kept.Keys, k => Assert.Contains(k, used));
    }

    [Fact]
    public void Only_the_route_wiring_calls_an_endpoint_class()
    {
        var calls = Module().Value.Types
            .Where(t => LayerOf(t.FullName) >= 0 && !IsWiring(t.Name))
            .SelectMany(t => Calls(t).Where(m => IsEndpoints(Outermost(m.DeclaringType).Name)).Select(m => $"{t.FullName} calls {Outermost(m.DeclaringType).Name}.{m.Name}"))
            .Distinct()
            .Order(StringComparer.Ordinal)
            .ToList();

        Assert.True(calls.Count == 0, "Endpoint classes used as services (move the logic into a service that both call):\n" + string.Join("\n", calls));
    }

    static bool IsEndpoints(string name) => name.EndsWith("Endpoints", StringComparison.Ordinal);

    /// <summary>An endpoint class itself, or a feature's AddX/MapXEndpoints class that maps its routes.</summary>
    static bool IsWiring(string name) => IsEndpoints(name) || name.EndsWith("Extensions", StringComparison.Ordinal);

    static TypeReference Outermost(TypeReference type)
    {
        while (type.DeclaringType is { } outer)
            type = outer;
        return type;
    }

    static IEnumerable<MethodReference> Calls(TypeDefinition type) =>
        type.Methods.Where(m => m.HasBody).SelectMany(m => m.Body.Instructions).Select(i => i.Operand).OfType<MethodReference>()
            .Concat(type.NestedTypes.SelectMany(Calls));

    sealed record Edge(string From, string To);

    static Lazy<ModuleDefinition> Module() => LazyModule;

    static readonly Lazy<ModuleDefinition> LazyModule = new(() => ModuleDefinition.ReadModule(typeof(Program).Assembly.Location));

    static string Feature(string typeName)
    {
        var parts = typeName.Split('.');
        return parts.Length > 2 ? parts[0] + "." + parts[1] : typeName;
    }

    static int LayerOf(string name)
    {
        for (var i = 0; i < Layers.Length; i++)
        {
            if (Layers[i].Any(ns => name == ns || name.StartsWith(ns + ".", StringComparison.Ordinal)))
                return i;
        }
        return -1;
    }

    static List<Edge> ReadEdges()
    {
        var edges = new HashSet<Edge>();
        foreach (var type in Module().Value.Types)
        {
            var from = type.FullName;
            if (LayerOf(from) < 0)
                continue;
            foreach (var to in UsedBy(type).SelectMany(Names).Where(t => LayerOf(t) >= 0))
                edges.Add(new Edge(from, to));
        }
        return [.. edges];
    }

    /// <summary>Every type <paramref name="type"/> and the types nested in it (closures, state machines) refer to.</summary>
    static IEnumerable<TypeReference> UsedBy(TypeDefinition type)
    {
        if (type.BaseType is { } baseType)
            yield return baseType;
        foreach (var i in type.Interfaces)
            yield return i.InterfaceType;
        foreach (var t in Attributes(type.CustomAttributes))
            yield return t;
        foreach (var field in type.Fields)
        {
            yield return field.FieldType;
            foreach (var t in Attributes(field.CustomAttributes))
                yield return t;
        }
        foreach (var property in type.Properties)
        {
            yield return property.PropertyType;
            foreach (var t in Attributes(property.CustomAttributes))
                yield return t;
        }
        foreach (var method in type.Methods)
        {
            foreach (var t in Signature(method))
                yield return t;
            foreach (var t in Attributes(method.CustomAttributes))
                yield return t;
            if (!method.HasBody)
                continue;
            foreach (var variable in method.Body.Variables)
                yield return variable.VariableType;
            foreach (var instruction in method.Body.Instructions)
            {
                switch (instruction.Operand)
                {
                    case TypeReference t:
                        yield return t;
                        break;
                    case MethodReference m:
                        yield return m.DeclaringType;
                        foreach (var t in Signature(m))
                            yield return t;
                        break;
                    case FieldReference f:
                        yield return f.DeclaringType;
                        yield return f.FieldType;
                        break;
                }
            }
        }
        foreach (var nested in type.NestedTypes)
        {
            foreach (var t in UsedBy(nested))
                yield return t;
        }
    }

    static IEnumerable<TypeReference> Signature(MethodReference method)
    {
        yield return method.ReturnType;
        foreach (var p in method.Parameters)
            yield return p.ParameterType;
        if (method is GenericInstanceMethod generic)
        {
            foreach (var a in generic.GenericArguments)
                yield return a;
        }
        foreach (var g in method.GenericParameters)
        {
            foreach (var c in g.Constraints)
                yield return c.ConstraintType;
        }
    }

    static IEnumerable<TypeReference> Attributes(IEnumerable<CustomAttribute> attributes)
    {
        foreach (var a in attributes)
        {
            yield return a.AttributeType;
            foreach (var arg in a.ConstructorArguments)
            {
                if (arg.Value is TypeReference t)
                    yield return t;
            }
        }
    }

    /// <summary>The full names of the outermost declared types behind a reference: arrays unwrapped, generic arguments included.</summary>
    static IEnumerable<string> Names(TypeReference? type)
    {
        switch (type)
        {
            case null or GenericParameter:
                yield break;
            case GenericInstanceType generic:
                foreach (var name in Names(generic.ElementType).Concat(generic.GenericArguments.SelectMany(Names)))
                    yield return name;
                yield break;
            case TypeSpecification spec:
                foreach (var name in Names(spec.ElementType))
                    yield return name;
                yield break;
        }
        while (type.DeclaringType is { } outer)
            type = outer;
        yield return type.FullName;
    }
}
