//! The words verdicts are written in, as the Python engine writes them: addresses as
//! `socket.inet_ntop` (glibc's) spells them, endpoints as `model.Endpoint`, spans as
//! `coverage.duration`.

use std::fmt::Write;

use super::numbers::true_div;
use super::printable::NOT_PRINTABLE;
use crate::decode::Addr;

const NS: i128 = 1_000_000_000;

/// An address as glibc's `inet_ntop` writes it (its IPv6 rules: the longest run of two
/// or more zero groups, the first of equals, becomes "::"; a run of the first five
/// groups before ffff, or the first six, puts the last 32 bits in dotted form).
pub fn address(addr: &Addr) -> String {
    let mut out = String::with_capacity(if addr.as_slice().len() == 16 { 39 } else { 15 });
    write_address(&mut out, addr);
    out
}

/// `address`, written at the end of OUT: an IPv4 address's digits by hand, for they
/// are written four times a verdict and `write!` cost ten times as much.
pub fn write_address(out: &mut String, addr: &Addr) {
    let bytes = addr.as_slice();
    if bytes.len() != 16 {
        for (i, &b) in bytes.iter().enumerate() {
            if i > 0 {
                out.push('.');
            }
            push_byte(out, b);
        }
        return;
    }
    out.push_str(&ipv6(bytes));
}

/// A byte's decimal digits.
fn push_byte(out: &mut String, b: u8) {
    if b >= 100 {
        out.push(char::from(b'0' + b / 100));
    }
    if b >= 10 {
        out.push(char::from(b'0' + b / 10 % 10));
    }
    out.push(char::from(b'0' + b % 10));
}

/// An IPv6 address (16 bytes) as inet_ntop writes it.
fn ipv6(bytes: &[u8]) -> String {
    let words: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|w| u16::from_be_bytes([w[0], w[1]]))
        .collect();
    // runs of zero groups as (first group, how many)
    let mut best: Option<(usize, usize)> = None;
    let mut cur: Option<(usize, usize)> = None;
    for (i, &w) in words.iter().enumerate() {
        if w == 0 {
            cur = Some(cur.map_or((i, 1), |(base, len)| (base, len + 1)));
        } else if let Some(run) = cur.take() {
            if best.map_or(true, |b| run.1 > b.1) {
                best = Some(run);
            }
        }
    }
    if let Some(run) = cur {
        if best.map_or(true, |b| run.1 > b.1) {
            best = Some(run);
        }
    }
    let best = best.filter(|&(_, len)| len >= 2);
    let mut out = String::with_capacity(39);
    for (i, &w) in words.iter().enumerate() {
        if let Some((base, len)) = best {
            if i >= base && i < base + len {
                if i == base {
                    out.push(':');
                }
                continue;
            }
        }
        if i != 0 {
            out.push(':');
        }
        if i == 6
            && best.is_some_and(|(base, len)| {
                base == 0 && (len == 6 || (len == 5 && words[5] == 0xffff))
            })
        {
            let _ = write!(
                out,
                "{}.{}.{}.{}",
                bytes[12], bytes[13], bytes[14], bytes[15]
            );
            return out;
        }
        let _ = write!(out, "{w:x}");
    }
    if best.is_some_and(|(base, len)| base + len == 8) {
        out.push(':');
    }
    out
}

/// `str(model.Endpoint)`: "addr:port", "[addr]:port" for IPv6.
pub fn endpoint(ep: &(Addr, u16)) -> String {
    let mut out = String::with_capacity(47);
    write_endpoint(&mut out, ep);
    out
}

/// `endpoint`, written at the end of OUT.
pub fn write_endpoint(out: &mut String, (addr, port): &(Addr, u16)) {
    let v6 = addr.as_slice().len() == 16;
    if v6 {
        out.push('[');
    }
    write_address(out, addr);
    out.push_str(if v6 { "]:" } else { ":" });
    out.push_str(itoa::Buffer::new().format(*port));
}

/// A span for people (`coverage.duration`): 850 us, 12 ms, 0.8 s, 3.5 min, 2.0 h.
/// Python's `format(x, ".0f")` and Rust's `{:.0}` both round the float's exact value
/// half to even.
pub fn duration(ns: i128) -> String {
    let magnitude = ns.unsigned_abs();
    if magnitude < 1_000_000 {
        format!("{:.0} us", true_div(ns, 1000))
    } else if magnitude < NS as u128 {
        format!("{:.0} ms", true_div(ns, 1_000_000))
    } else if magnitude < 120 * NS as u128 {
        format!("{:.1} s", true_div(ns, NS))
    } else if magnitude < 7200 * NS as u128 {
        format!("{:.1} min", true_div(ns, NS) / 60.0)
    } else {
        format!("{:.1} h", true_div(ns, NS) / 3600.0)
    }
}

/// Python's `repr` of a str: quoted with ' (with " when the text holds ' and no "),
/// backslash, the quote, tab, newline and return escaped, other controls and every
/// code point `str.isprintable` refuses as \xNN, \uNNNN or \UNNNNNNNN.
pub fn py_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        let u = c as u32;
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ if c == quote => {
                out.push('\\');
                out.push(c);
            }
            _ if u < 0x20 || u == 0x7f => {
                let _ = write!(out, "\\x{u:02x}");
            }
            _ if u < 0x7f || printable(u) => out.push(c),
            _ if u <= 0xff => {
                let _ = write!(out, "\\x{u:02x}");
            }
            _ if u <= 0xffff => {
                let _ = write!(out, "\\u{u:04x}");
            }
            _ => {
                let _ = write!(out, "\\U{u:08x}");
            }
        }
    }
    out.push(quote);
    out
}

fn printable(u: u32) -> bool {
    let at = NOT_PRINTABLE.partition_point(|&(_, end)| end < u);
    NOT_PRINTABLE.get(at).map_or(true, |&(start, _)| u < start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(text: &str) -> String {
        let ip: std::net::Ipv6Addr = text.parse().unwrap();
        address(&Addr::from_slice(&ip.octets()))
    }

    #[test]
    fn every_byte_of_an_ipv4_address_as_its_decimal_digits() {
        for b in 0..=255u8 {
            let addr = Addr::from_slice(&[b, 0, 255 - b, 10]);
            let want = std::net::Ipv4Addr::new(b, 0, 255 - b, 10).to_string();
            assert_eq!(address(&addr), want);
            assert_eq!(
                endpoint(&(addr, u16::from(b) * 257)),
                format!("{want}:{}", u16::from(b) * 257)
            );
        }
        let v6_addr = Addr::from_slice(
            &"2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        assert_eq!(endpoint(&(v6_addr, 443)), "[2001:db8::1]:443");
        let mut out = String::from("x");
        write_endpoint(&mut out, &(v6_addr, 0));
        assert_eq!(out, "x[2001:db8::1]:0"); // appended, nothing before it lost
    }

    #[test]
    fn addresses_as_inet_ntop_writes_them() {
        assert_eq!(
            address(&Addr::from_slice(&[203, 0, 113, 10])),
            "203.0.113.10"
        );
        assert_eq!(v6("2001:db8:0:1:0:0:0:1"), "2001:db8:0:1::1");
        assert_eq!(v6("::1.2.3.4"), "::1.2.3.4"); // Rust's own Display: ::102:304
        assert_eq!(v6("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
        assert_eq!(v6("::"), "::");
        assert_eq!(v6("::1"), "::1");
        assert_eq!(v6("1::"), "1::");
        assert_eq!(v6("0:0:1::1"), "0:0:1::1");
        assert_eq!(v6("1:0:2:3:4:5:6:7"), "1:0:2:3:4:5:6:7"); // one zero group stays
    }

    #[test]
    fn text_is_quoted_as_pythons_repr_quotes_it() {
        assert_eq!(py_repr("www.example.com"), "'www.example.com'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("'\""), "'\\'\"'");
        assert_eq!(py_repr("a\\b\tc\n\u{1b}[0m"), "'a\\\\b\\tc\\n\\x1b[0m'");
        assert_eq!(
            py_repr("caf\u{e9} \u{a0}\u{202e}\u{10ffff}"),
            "'caf\u{e9} \\xa0\\u202e\\U0010ffff'"
        );
    }

    #[test]
    fn durations_as_coverage_writes_them() {
        assert_eq!(duration(850_000), "850 us");
        assert_eq!(duration(2_500), "2 us"); // 2.5: half to even
        assert_eq!(duration(12_000_000), "12 ms");
        assert_eq!(duration(800_000_000), "800 ms");
        assert_eq!(duration(1_250_000_000), "1.2 s");
        assert_eq!(duration(210 * NS), "3.5 min");
        assert_eq!(duration(-7200 * NS), "-2.0 h");
    }
}
