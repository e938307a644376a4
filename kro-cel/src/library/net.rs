//! The Kubernetes IP and CIDR libraries, with the semantics of Go's `net/netip` as the API
//! server uses them (IPv4-mapped IPv6 addresses and zones are rejected).

use super::{Overload, value_fns};
use cel::ExecutionError;
use cel::common::types::{Kind, STRING_TYPE, Type};
use cel::objects::{Opaque, Value};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

const IP_TYPE: Type = Type::simple_type(Kind::Opaque, "net.IP");
const CIDR_TYPE: Type = Type::simple_type(Kind::Opaque, "net.CIDR");

/// An IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ip(IpAddr);

impl Opaque for Ip {
    fn runtime_type_name(&self) -> &str {
        "net.IP"
    }
}

/// An address with a prefix length, the address kept as written (see `masked()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    address: IpAddr,
    prefix: u8,
}

impl Opaque for Cidr {
    fn runtime_type_name(&self) -> &str {
        "net.CIDR"
    }
}

fn parse_ip(input: &str) -> Result<IpAddr, String> {
    let ip: IpAddr = input
        .parse()
        .map_err(|_| format!("IP Address {input:?} parse error"))?;
    if let IpAddr::V6(v6) = ip
        && v6.to_ipv4_mapped().is_some()
    {
        return Err(format!("IPv4-mapped IPv6 address {input:?} is not allowed"));
    }
    Ok(ip)
}

fn parse_cidr(input: &str) -> Result<Cidr, String> {
    let Some((address, prefix)) = input.split_once('/') else {
        return Err(format!(
            "network address parse error: {input:?} has no prefix length"
        ));
    };
    let address = parse_ip(address)?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| {
            *p <= max && !prefix.starts_with('+') && (prefix == "0" || !prefix.starts_with('0'))
        })
        .ok_or_else(|| format!("network address parse error: bad prefix length in {input:?}"))?;
    Ok(Cidr { address, prefix })
}

fn mask(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            IpAddr::V4(Ipv4Addr::from(bits & mask))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            IpAddr::V6(Ipv6Addr::from(bits & mask))
        }
    }
}

impl Cidr {
    fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.address.is_ipv4()
            && mask(ip, self.prefix) == mask(self.address, self.prefix)
    }
}

fn fail(function: &str, message: impl ToString) -> ExecutionError {
    ExecutionError::function_error(function, message)
}

fn string_arg<'a>(
    args: &'a [Value],
    index: usize,
    function: &str,
) -> Result<&'a str, ExecutionError> {
    match args.get(index) {
        Some(Value::String(s)) => Ok(s.as_str()),
        _ => Err(fail(function, "expected a string")),
    }
}

fn ip_at(args: &[Value], index: usize, function: &str) -> Result<IpAddr, ExecutionError> {
    match args.get(index) {
        Some(Value::Opaque(o)) => o
            .downcast_ref::<Ip>()
            .map(|ip| ip.0)
            .ok_or_else(|| fail(function, "expected an IP")),
        Some(Value::String(s)) => parse_ip(s).map_err(|e| fail(function, e)),
        _ => Err(fail(function, "expected an IP")),
    }
}

fn cidr_at(args: &[Value], index: usize, function: &str) -> Result<Cidr, ExecutionError> {
    match args.get(index) {
        Some(Value::Opaque(o)) => o
            .downcast_ref::<Cidr>()
            .copied()
            .ok_or_else(|| fail(function, "expected a CIDR")),
        Some(Value::String(s)) => parse_cidr(s).map_err(|e| fail(function, e)),
        _ => Err(fail(function, "expected a CIDR")),
    }
}

fn ip(args: &[Value]) -> Result<Value, ExecutionError> {
    let ip = parse_ip(string_arg(args, 0, "ip")?).map_err(|e| fail("ip", e))?;
    Ok(Value::Opaque(Arc::new(Ip(ip))))
}

fn is_ip(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Bool(parse_ip(string_arg(args, 0, "isIP")?).is_ok()))
}

fn is_canonical(args: &[Value]) -> Result<Value, ExecutionError> {
    let input = string_arg(args, 0, "ip.isCanonical")?;
    let ip = parse_ip(input).map_err(|e| fail("ip.isCanonical", e))?;
    Ok(Value::Bool(ip.to_string() == input))
}

fn family(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Int(if ip_at(args, 0, "family")?.is_ipv4() {
        4
    } else {
        6
    }))
}

fn is_loopback(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Bool(ip_at(args, 0, "isLoopback")?.is_loopback()))
}

fn is_unspecified(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Bool(
        ip_at(args, 0, "isUnspecified")?.is_unspecified(),
    ))
}

fn link_local_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.octets()[0] == 169 && v4.octets()[1] == 254,
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
    }
}

fn is_link_local_unicast(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Bool(link_local_unicast(ip_at(
        args,
        0,
        "isLinkLocalUnicast",
    )?)))
}

fn is_link_local_multicast(args: &[Value]) -> Result<Value, ExecutionError> {
    let ip = ip_at(args, 0, "isLinkLocalMulticast")?;
    Ok(Value::Bool(match ip {
        IpAddr::V4(v4) => v4.octets()[..3] == [224, 0, 0],
        IpAddr::V6(v6) => v6.segments()[0] & 0xff0f == 0xff02,
    }))
}

/// Go's definition: not unspecified, loopback, multicast, link-local unicast or the IPv4
/// broadcast address (private ranges are global unicast).
fn is_global_unicast(args: &[Value]) -> Result<Value, ExecutionError> {
    let ip = ip_at(args, 0, "isGlobalUnicast")?;
    let broadcast = ip == IpAddr::V4(Ipv4Addr::BROADCAST);
    Ok(Value::Bool(
        !(ip.is_unspecified()
            || ip.is_loopback()
            || ip.is_multicast()
            || link_local_unicast(ip)
            || broadcast),
    ))
}

fn ip_string(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::String(Arc::new(
        ip_at(args, 0, "string")?.to_string(),
    )))
}

fn cidr(args: &[Value]) -> Result<Value, ExecutionError> {
    let cidr = parse_cidr(string_arg(args, 0, "cidr")?).map_err(|e| fail("cidr", e))?;
    Ok(Value::Opaque(Arc::new(cidr)))
}

fn is_cidr(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Bool(
        parse_cidr(string_arg(args, 0, "isCIDR")?).is_ok(),
    ))
}

fn contains_ip(args: &[Value]) -> Result<Value, ExecutionError> {
    let cidr = cidr_at(args, 0, "containsIP")?;
    Ok(Value::Bool(cidr.contains(ip_at(args, 1, "containsIP")?)))
}

fn contains_cidr(args: &[Value]) -> Result<Value, ExecutionError> {
    let outer = cidr_at(args, 0, "containsCIDR")?;
    let inner = cidr_at(args, 1, "containsCIDR")?;
    Ok(Value::Bool(
        inner.prefix >= outer.prefix && outer.contains(inner.address),
    ))
}

fn cidr_ip(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Opaque(Arc::new(Ip(cidr_at(args, 0, "ip")?.address))))
}

fn prefix_length(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Int(i64::from(
        cidr_at(args, 0, "prefixLength")?.prefix,
    )))
}

fn masked(args: &[Value]) -> Result<Value, ExecutionError> {
    let cidr = cidr_at(args, 0, "masked")?;
    Ok(Value::Opaque(Arc::new(Cidr {
        address: mask(cidr.address, cidr.prefix),
        prefix: cidr.prefix,
    })))
}

fn cidr_string(args: &[Value]) -> Result<Value, ExecutionError> {
    let cidr = cidr_at(args, 0, "string")?;
    Ok(Value::String(Arc::new(format!(
        "{}/{}",
        cidr.address, cidr.prefix
    ))))
}

value_fns! {
    ip_fn => ip,
    is_ip_fn => is_ip,
    is_canonical_fn => is_canonical,
    family_fn => family,
    loopback_fn => is_loopback,
    unspecified_fn => is_unspecified,
    llu_fn => is_link_local_unicast,
    llm_fn => is_link_local_multicast,
    global_fn => is_global_unicast,
    ip_string_fn => ip_string,
    cidr_fn => cidr,
    is_cidr_fn => is_cidr,
    contains_ip_fn => contains_ip,
    contains_cidr_fn => contains_cidr,
    cidr_ip_fn => cidr_ip,
    prefix_fn => prefix_length,
    masked_fn => masked,
    cidr_string_fn => cidr_string,
}

pub(crate) static OVERLOADS: &[Overload] = &[
    Overload {
        name: "ip",
        id: "ip(string)",
        receiver: false,
        args: &[STRING_TYPE],
        func: ip_fn,
    },
    Overload {
        name: "isIP",
        id: "isIP(string)",
        receiver: false,
        args: &[STRING_TYPE],
        func: is_ip_fn,
    },
    Overload {
        name: "ip.isCanonical",
        id: "ip.isCanonical(string)",
        receiver: false,
        args: &[STRING_TYPE],
        func: is_canonical_fn,
    },
    Overload {
        name: "family",
        id: "ip.family()",
        receiver: true,
        args: &[IP_TYPE],
        func: family_fn,
    },
    Overload {
        name: "isLoopback",
        id: "ip.isLoopback()",
        receiver: true,
        args: &[IP_TYPE],
        func: loopback_fn,
    },
    Overload {
        name: "isUnspecified",
        id: "ip.isUnspecified()",
        receiver: true,
        args: &[IP_TYPE],
        func: unspecified_fn,
    },
    Overload {
        name: "isLinkLocalUnicast",
        id: "ip.isLinkLocalUnicast()",
        receiver: true,
        args: &[IP_TYPE],
        func: llu_fn,
    },
    Overload {
        name: "isLinkLocalMulticast",
        id: "ip.isLinkLocalMulticast()",
        receiver: true,
        args: &[IP_TYPE],
        func: llm_fn,
    },
    Overload {
        name: "isGlobalUnicast",
        id: "ip.isGlobalUnicast()",
        receiver: true,
        args: &[IP_TYPE],
        func: global_fn,
    },
    Overload {
        name: "string",
        id: "string(ip)",
        receiver: false,
        args: &[IP_TYPE],
        func: ip_string_fn,
    },
    Overload {
        name: "cidr",
        id: "cidr(string)",
        receiver: false,
        args: &[STRING_TYPE],
        func: cidr_fn,
    },
    Overload {
        name: "isCIDR",
        id: "isCIDR(string)",
        receiver: false,
        args: &[STRING_TYPE],
        func: is_cidr_fn,
    },
    Overload {
        name: "containsIP",
        id: "cidr.containsIP(string)",
        receiver: true,
        args: &[CIDR_TYPE, STRING_TYPE],
        func: contains_ip_fn,
    },
    Overload {
        name: "containsIP",
        id: "cidr.containsIP(ip)",
        receiver: true,
        args: &[CIDR_TYPE, IP_TYPE],
        func: contains_ip_fn,
    },
    Overload {
        name: "containsCIDR",
        id: "cidr.containsCIDR(string)",
        receiver: true,
        args: &[CIDR_TYPE, STRING_TYPE],
        func: contains_cidr_fn,
    },
    Overload {
        name: "containsCIDR",
        id: "cidr.containsCIDR(cidr)",
        receiver: true,
        args: &[CIDR_TYPE, CIDR_TYPE],
        func: contains_cidr_fn,
    },
    Overload {
        name: "ip",
        id: "cidr.ip()",
        receiver: true,
        args: &[CIDR_TYPE],
        func: cidr_ip_fn,
    },
    Overload {
        name: "prefixLength",
        id: "cidr.prefixLength()",
        receiver: true,
        args: &[CIDR_TYPE],
        func: prefix_fn,
    },
    Overload {
        name: "masked",
        id: "cidr.masked()",
        receiver: true,
        args: &[CIDR_TYPE],
        func: masked_fn,
    },
    Overload {
        name: "string",
        id: "string(cidr)",
        receiver: false,
        args: &[CIDR_TYPE],
        func: cidr_string_fn,
    },
];
