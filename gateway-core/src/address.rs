//! Which IP addresses a webhook may never be sent to outside development.
//!
//! The table below is every block of the IANA IPv4 and IPv6 Special-Purpose Address Registries
//! whose "Globally Reachable" column is `False` (or `N/A` for a deprecated block), plus multicast,
//! the reserved and never-allocated IPv6 space, and the IPv6 forms that carry an IPv4 address:
//! those are judged by the IPv4 address they carry (IPv4-mapped, NAT64 `64:ff9b::/96`, 6to4)
//! or refused outright (IPv4-compatible `::/96`, which is deprecated; Teredo, inside
//! `2001::/23`; the local-use NAT64 prefix `64:ff9b:1::/48`).
//!
//! The registries were read in November 2026. Where a block that is not globally reachable
//! contains a few anycast addresses that are (PCP and TURN anycast in `192.0.0.0/24` and
//! `2001::/23`, AMT, AS112, ORCHIDv2 and DETs in `2001::/23`), the whole block is refused: none
//! of them is a webhook receiver. No crate was used: `iprfc` lists blocks by RFC without the
//! registry's reachability column, and `nex-core` brings a network-interface library with it;
//! a table that can be read line by line against the registries is easier to trust.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use Rule::{CarriesIpv4, Refuse};

/// A refused block of addresses and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialBlock {
    /// The block.
    pub net: IpNet,
    /// What the registry calls it.
    pub name: &'static str,
    /// How an address inside it is judged.
    pub rule: Rule,
}

/// How an address inside a [`SpecialBlock`] is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Always refused.
    Refuse,
    /// Refused when the IPv4 address it carries is refused; otherwise allowed (a packet to it
    /// reaches that IPv4 address).
    CarriesIpv4,
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8, name: &'static str) -> SpecialBlock {
    SpecialBlock {
        net: IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)),
        name,
        rule: Rule::Refuse,
    }
}

const fn v6(segments: [u16; 8], len: u8, name: &'static str, rule: Rule) -> SpecialBlock {
    let [a, b, c, d, e, f, g, h] = segments;
    SpecialBlock {
        net: IpNet::V6(Ipv6Net::new_assert(
            Ipv6Addr::new(a, b, c, d, e, f, g, h),
            len,
        )),
        name,
        rule,
    }
}

/// Every refused block, more specific blocks before the blocks that contain them, so the first
/// match names the most precise reason.
pub const SPECIAL_BLOCKS: &[SpecialBlock] = &[
    // IPv4 Special-Purpose Address Registry.
    v4(0, 0, 0, 0, 32, "this host on this network (RFC 1122)"),
    v4(0, 0, 0, 0, 8, "this network (RFC 791)"),
    v4(10, 0, 0, 0, 8, "private-use (RFC 1918)"),
    v4(100, 64, 0, 0, 10, "shared address space (RFC 6598)"),
    v4(127, 0, 0, 0, 8, "loopback (RFC 1122)"),
    v4(169, 254, 0, 0, 16, "link-local (RFC 3927)"),
    v4(172, 16, 0, 0, 12, "private-use (RFC 1918)"),
    v4(
        192,
        0,
        0,
        0,
        29,
        "IPv4 service continuity prefix (RFC 7335)",
    ),
    v4(192, 0, 0, 8, 32, "IPv4 dummy address (RFC 7600)"),
    v4(192, 0, 0, 170, 32, "NAT64/DNS64 discovery (RFC 8880)"),
    v4(192, 0, 0, 171, 32, "NAT64/DNS64 discovery (RFC 8880)"),
    v4(192, 0, 0, 0, 24, "IETF protocol assignments (RFC 6890)"),
    v4(192, 0, 2, 0, 24, "documentation TEST-NET-1 (RFC 5737)"),
    v4(
        192,
        88,
        99,
        0,
        24,
        "deprecated 6to4 relay anycast (RFC 7526)",
    ),
    v4(192, 168, 0, 0, 16, "private-use (RFC 1918)"),
    v4(198, 18, 0, 0, 15, "benchmarking (RFC 2544)"),
    v4(198, 51, 100, 0, 24, "documentation TEST-NET-2 (RFC 5737)"),
    v4(203, 0, 113, 0, 24, "documentation TEST-NET-3 (RFC 5737)"),
    // IPv4 Multicast Address Space Registry.
    v4(224, 0, 0, 0, 4, "multicast (RFC 5771)"),
    v4(255, 255, 255, 255, 32, "limited broadcast (RFC 919)"),
    v4(240, 0, 0, 0, 4, "reserved (RFC 1112)"),
    // IPv6 Special-Purpose Address Registry.
    v6([0; 8], 128, "unspecified (RFC 4291)", Refuse),
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback (RFC 4291)", Refuse),
    v6(
        [0, 0, 0, 0, 0, 0xffff, 0, 0],
        96,
        "IPv4-mapped (RFC 4291)",
        CarriesIpv4,
    ),
    v6([0; 8], 96, "IPv4-compatible, deprecated (RFC 4291)", Refuse),
    v6(
        [0x64, 0xff9b, 0, 0, 0, 0, 0, 0],
        96,
        "IPv4-IPv6 translation (RFC 6052)",
        CarriesIpv4,
    ),
    v6(
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        "local-use IPv4-IPv6 translation (RFC 8215)",
        Refuse,
    ),
    v6(
        [0x100, 0, 0, 0, 0, 0, 0, 0],
        64,
        "discard-only (RFC 6666)",
        Refuse,
    ),
    v6(
        [0x100, 0, 0, 1, 0, 0, 0, 0],
        64,
        "dummy IPv6 prefix (RFC 9780)",
        Refuse,
    ),
    v6(
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        32,
        "Teredo (RFC 4380)",
        Refuse,
    ),
    v6(
        [0x2001, 2, 0, 0, 0, 0, 0, 0],
        48,
        "benchmarking (RFC 5180)",
        Refuse,
    ),
    v6(
        [0x2001, 0x10, 0, 0, 0, 0, 0, 0],
        28,
        "deprecated ORCHID (RFC 4843)",
        Refuse,
    ),
    v6(
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        "IETF protocol assignments (RFC 2928)",
        Refuse,
    ),
    v6(
        [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
        32,
        "documentation (RFC 3849)",
        Refuse,
    ),
    v6(
        [0x2002, 0, 0, 0, 0, 0, 0, 0],
        16,
        "6to4 (RFC 3056)",
        CarriesIpv4,
    ),
    v6(
        [0x3fff, 0, 0, 0, 0, 0, 0, 0],
        20,
        "documentation (RFC 9637)",
        Refuse,
    ),
    v6(
        [0x5f00, 0, 0, 0, 0, 0, 0, 0],
        16,
        "segment routing SIDs (RFC 9602)",
        Refuse,
    ),
    v6(
        [0xfc00, 0, 0, 0, 0, 0, 0, 0],
        7,
        "unique-local (RFC 4193)",
        Refuse,
    ),
    v6(
        [0xfe80, 0, 0, 0, 0, 0, 0, 0],
        10,
        "link-local unicast (RFC 4291)",
        Refuse,
    ),
    v6(
        [0xfec0, 0, 0, 0, 0, 0, 0, 0],
        10,
        "deprecated site-local (RFC 3879)",
        Refuse,
    ),
    v6(
        [0xff00, 0, 0, 0, 0, 0, 0, 0],
        8,
        "multicast (RFC 4291)",
        Refuse,
    ),
];

/// IPv6 global unicast space (IANA IPv6 Address Space registry): every other IPv6 address
/// that no block above names is reserved by the IETF and never routed.
pub static GLOBAL_UNICAST_V6: SpecialBlock = v6(
    [0x2000, 0, 0, 0, 0, 0, 0, 0],
    3,
    "outside the global unicast space 2000::/3 (RFC 4291)",
    Refuse,
);

/// Why `ip` may not be a webhook target, or `None` when it is a globally reachable address.
pub fn refusal(ip: IpAddr) -> Option<&'static SpecialBlock> {
    let block = SPECIAL_BLOCKS.iter().find(|b| b.net.contains(&ip));
    match (block, ip) {
        (Some(block), IpAddr::V6(v6)) if block.rule == CarriesIpv4 => {
            let carried = carried_ipv4(v6, block)?;
            refusal(IpAddr::V4(carried)).map(|_| block)
        }
        (Some(block), _) => Some(block),
        (None, IpAddr::V6(v6)) if !GLOBAL_UNICAST_V6.net.contains(&IpAddr::V6(v6)) => {
            Some(&GLOBAL_UNICAST_V6)
        }
        (None, _) => None,
    }
}

/// The IPv4 address an IPv6 address in a [`Rule::CarriesIpv4`] block stands for.
fn carried_ipv4(ip: Ipv6Addr, block: &SpecialBlock) -> Option<Ipv4Addr> {
    let o = ip.octets();
    match block.net.prefix_len() {
        // 6to4: 2002:AABB:CCDD::/48 is the site behind AA.BB.CC.DD.
        16 => Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])),
        // IPv4-mapped and NAT64's /96: the last 32 bits.
        96 => Some(Ipv4Addr::new(o[12], o[13], o[14], o[15])),
        _ => None,
    }
}

/// Whether `ip` is not a globally reachable address (see [`refusal`]).
pub fn is_special(ip: IpAddr) -> bool {
    refusal(ip).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every block with one address inside (refused for that block) and one just outside,
    /// with the verdict expected for the outside one (`None`: allowed).
    const CASES: &[(&str, &str, &str, Option<&str>)] = &[
        ("0.0.0.0/32", "0.0.0.0", "0.0.0.1", Some("0.0.0.0/8")),
        ("0.0.0.0/8", "0.255.255.255", "1.0.0.0", None),
        ("10.0.0.0/8", "10.1.2.3", "11.0.0.0", None),
        ("100.64.0.0/10", "100.127.255.255", "100.128.0.0", None),
        ("100.64.0.0/10", "100.64.0.1", "100.63.255.255", None),
        ("127.0.0.0/8", "127.0.0.1", "128.0.0.0", None),
        ("169.254.0.0/16", "169.254.169.254", "169.255.0.0", None),
        ("172.16.0.0/12", "172.31.255.255", "172.32.0.0", None),
        ("172.16.0.0/12", "172.16.0.0", "172.15.255.255", None),
        (
            "192.0.0.0/29",
            "192.0.0.7",
            "192.0.0.9",
            Some("192.0.0.0/24"),
        ),
        (
            "192.0.0.8/32",
            "192.0.0.8",
            "192.0.0.9",
            Some("192.0.0.0/24"),
        ),
        (
            "192.0.0.170/32",
            "192.0.0.170",
            "192.0.0.169",
            Some("192.0.0.0/24"),
        ),
        (
            "192.0.0.171/32",
            "192.0.0.171",
            "192.0.0.172",
            Some("192.0.0.0/24"),
        ),
        ("192.0.0.0/24", "192.0.0.9", "192.0.1.0", None),
        ("192.0.0.0/24", "192.0.0.255", "191.255.255.255", None),
        ("192.0.2.0/24", "192.0.2.1", "192.0.3.0", None),
        ("192.88.99.0/24", "192.88.99.1", "192.88.100.0", None),
        ("192.168.0.0/16", "192.168.1.1", "192.169.0.0", None),
        ("198.18.0.0/15", "198.19.255.255", "198.20.0.0", None),
        ("198.18.0.0/15", "198.18.0.0", "198.17.255.255", None),
        ("198.51.100.0/24", "198.51.100.7", "198.51.101.0", None),
        ("203.0.113.0/24", "203.0.113.9", "203.0.114.0", None),
        ("224.0.0.0/4", "224.0.0.1", "223.255.255.255", None),
        (
            "240.0.0.0/4",
            "240.0.0.1",
            "239.255.255.255",
            Some("224.0.0.0/4"),
        ),
        (
            "255.255.255.255/32",
            "255.255.255.255",
            "255.255.255.254",
            Some("240.0.0.0/4"),
        ),
        ("::/128", "::", "::2", Some("::/96")),
        ("::1/128", "::1", "::2", Some("::/96")),
        ("::/96", "::10.0.0.1", "::1:0:0", Some("2000::/3")),
        ("::/96", "::8.8.8.8", "::1:0:0", Some("2000::/3")),
        (
            "::ffff:0.0.0.0/96",
            "::ffff:10.0.0.1",
            "::ffff:8.8.8.8",
            None,
        ),
        (
            "::ffff:0.0.0.0/96",
            "::ffff:127.0.0.1",
            "::1:ffff:0:0",
            Some("2000::/3"),
        ),
        ("64:ff9b::/96", "64:ff9b::a00:1", "64:ff9b::808:808", None),
        (
            "64:ff9b::/96",
            "64:ff9b::c612:1",
            "64:ff9b::1:0:0",
            Some("2000::/3"),
        ),
        (
            "64:ff9b:1::/48",
            "64:ff9b:1::808:808",
            "64:ff9b:2::",
            Some("2000::/3"),
        ),
        ("100::/64", "100::1", "100:0:0:2::", Some("2000::/3")),
        (
            "100:0:0:1::/64",
            "100:0:0:1::1",
            "100:0:0:2::",
            Some("2000::/3"),
        ),
        (
            "2001::/32",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:1::",
            Some("2001::/23"),
        ),
        ("2001:2::/48", "2001:2::1", "2001:2:1::", Some("2001::/23")),
        ("2001:10::/28", "2001:1f::1", "2001:20::", Some("2001::/23")),
        ("2001::/23", "2001:1ff::1", "2001:200::", None),
        (
            "2001::/23",
            "2001:1::1",
            "2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            None,
        ),
        ("2001:db8::/32", "2001:db8::1", "2001:db9::", None),
        ("2002::/16", "2002:a00:1::1", "2003::1", None),
        ("2002::/16", "2002:c000:201::1", "2002:808:808::1", None),
        (
            "2002::/16",
            "2002:7f00:1::",
            "2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            None,
        ),
        ("3fff::/20", "3fff:fff::1", "3fff:1000::", None),
        ("5f00::/16", "5f00::1", "5f01::", Some("2000::/3")),
        (
            "fc00::/7",
            "fd00::1",
            "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            Some("2000::/3"),
        ),
        ("fe80::/10", "fe80::1", "fec0::", Some("fec0::/10")),
        ("fec0::/10", "fec0::1", "ff00::", Some("ff00::/8")),
        (
            "ff00::/8",
            "ff02::1",
            "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            Some("fec0::/10"),
        ),
        (
            "2000::/3",
            "4000::1",
            "3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            None,
        ),
    ];

    fn verdict(ip: &str) -> Option<String> {
        let ip: IpAddr = ip.parse().expect(ip);
        refusal(ip).map(|b| b.net.to_string())
    }

    #[test]
    fn every_special_block_refuses_an_address_inside_and_not_the_one_just_outside() {
        for &(block, inside, outside, outside_verdict) in CASES {
            assert_eq!(
                verdict(inside).as_deref(),
                Some(block),
                "{inside} is in {block}"
            );
            assert_eq!(
                verdict(outside).as_deref(),
                outside_verdict,
                "{outside} is just outside {block}"
            );
        }
    }

    #[test]
    fn every_block_of_the_table_has_a_case() {
        let tested: Vec<&str> = CASES.iter().map(|c| c.0).collect();
        for block in SPECIAL_BLOCKS.iter().chain([&GLOBAL_UNICAST_V6]) {
            let net = block.net.to_string();
            assert!(tested.contains(&net.as_str()), "no case for {net}");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "192.0.1.1",
            "192.31.196.1",
            "2606:4700::1111",
            "2a00:1450:4001:80b::200e",
            "2620:4f:8000::1",
        ] {
            assert_eq!(verdict(ip), None, "{ip}");
        }
    }
}
