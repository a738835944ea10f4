using System.Net;
using System.Net.Sockets;

namespace AiHub.Infrastructure.Outbound;

/// <summary>What an address is, as far as a URL supplied by a tenant is concerned.</summary>
internal enum OutboundAddressKind
{
    /// <summary>The public internet.</summary>
    Public,

    /// <summary>Loopback, RFC 1918, CGNAT or IPv6 unique-local: closed unless the operator opens private networks.</summary>
    Private,

    /// <summary>Cloud metadata, link-local, multicast, unspecified, broadcast and reserved: always closed.</summary>
    Never,
}

/// <summary>Classifies addresses, including IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4).</summary>
internal static class OutboundAddresses
{
    static readonly IPAddress Ec2MetadataV6 = IPAddress.Parse("fd00:ec2::254");

    public static bool IsAllowed(IPAddress address, bool allowPrivateNetworks) => Classify(address) switch
    {
        OutboundAddressKind.Public => true,
        OutboundAddressKind.Private => allowPrivateNetworks,
        _ => false,
    };

    public static OutboundAddressKind Classify(IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetwork)
            return ClassifyV4(address.GetAddressBytes());
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
            return OutboundAddressKind.Never;
        if (address.Equals(Ec2MetadataV6))
            return OutboundAddressKind.Never;
        var b = address.GetAddressBytes();
        if (EmbeddedV4(b) is { } v4)
            return ClassifyV4(v4);
        if (address.Equals(IPAddress.IPv6Loopback))
            return OutboundAddressKind.Private;
        if (address.Equals(IPAddress.IPv6None) || b[0] == 0xff)
            return OutboundAddressKind.Never;
        // fe80::/10 link-local and fec0::/10 (deprecated site-local).
        if (b[0] == 0xfe && (b[1] & 0xc0) is 0x80 or 0xc0)
            return OutboundAddressKind.Never;
        // fc00::/7 unique-local; 64:ff9b:1::/48 local-use NAT64.
        if ((b[0] & 0xfe) == 0xfc || (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0x00 && b[5] == 0x01))
            return OutboundAddressKind.Private;
        // ::/8 and 100::/64 (discard) hold nothing a provider can live on.
        if (b[0] == 0x00 || (b[0] == 0x01 && b[1] == 0x00 && b.AsSpan(2, 6).IndexOfAnyExcept((byte)0) < 0))
            return OutboundAddressKind.Never;
        return OutboundAddressKind.Public;
    }

    /// <summary>The IPv4 address inside ::ffff:a.b.c.d, ::a.b.c.d, 64:ff9b::a.b.c.d (NAT64) or 2002:abcd::/16 (6to4).</summary>
    static byte[]? EmbeddedV4(byte[] b)
    {
        var zeroTen = b.AsSpan(0, 10).IndexOfAnyExcept((byte)0) < 0;
        if (zeroTen && b[10] == 0xff && b[11] == 0xff)
            return b[12..16];
        // ::a.b.c.d, but not :: or ::1, which are IPv6's own.
        if (zeroTen && b[10] == 0 && b[11] == 0 && (b[12] | b[13] | b[14]) != 0)
            return b[12..16];
        if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b.AsSpan(4, 8).IndexOfAnyExcept((byte)0) < 0)
            return b[12..16];
        if (b[0] == 0x20 && b[1] == 0x02)
            return b[2..6];
        return null;
    }

    static OutboundAddressKind ClassifyV4(byte[] a) => a switch
    {
        // Link-local: where clouds serve metadata (169.254.169.254) and credentials (169.254.170.2).
        [169, 254, _, _] => OutboundAddressKind.Never,
        [0, _, _, _] => OutboundAddressKind.Never,
        [255, 255, 255, 255] => OutboundAddressKind.Never,
        [>= 224, _, _, _] => OutboundAddressKind.Never,
        [127, _, _, _] => OutboundAddressKind.Private,
        [10, _, _, _] => OutboundAddressKind.Private,
        [172, >= 16 and <= 31, _, _] => OutboundAddressKind.Private,
        [192, 168, _, _] => OutboundAddressKind.Private,
        [100, >= 64 and <= 127, _, _] => OutboundAddressKind.Private,
        _ => OutboundAddressKind.Public,
    };
}
