//! `conns --json`'s record of one connection, written by the core: the very bytes
//! `orjson.dumps(render.conns_json.connection_to_json(conn))` gives for a capture
//! read from one file (held to it by tests/test_conns_json_core.py). Times are Python's
//! `ns / 1_000_000_000`: the double nearest the exact quotient, written as orjson
//! writes it (`0.000057`, `1e-6`, `1e+16`).

use std::fmt::Write;

use crate::track::{
    DirectionRec, ExchangeRec, Message, PacketRef, Record, ResetRec, TcpOptionsRec,
};

const BILLION: i128 = 1_000_000_000;

/// Between two records of the document's "connections" list (render/conns_json.py).
pub const RECORD_SEPARATOR: &str = ",\n  ";

/// The double nearest `ns / 10^9` (ties to even), as Python's int / int gives it;
/// None when the exact comparison would not fit in i128.
pub fn seconds(ns: i128) -> Option<f64> {
    let a = i128::try_from(ns.unsigned_abs()).ok()?;
    if a < 1 << 53 {
        // both operands exact: IEEE division rounds correctly
        return Some(ns as f64 / 1e9);
    }
    if let Some(value) = by_one_division(a) {
        return Some(if ns < 0 { -value } else { value });
    }
    neighbours(ns, a)
}

/// a / 10^9 for a >= 2^53 (every timestamp since 1970-04-15): the quotient scaled by
/// 2^k to 53 bits is one integer division, its remainder rounds it (half to even), and
/// the scaling back is exact. None where the scaled dividend would not fit.
fn by_one_division(a: i128) -> Option<f64> {
    let whole = a / BILLION; // >= 2^23
    let k = 52i32.checked_sub(whole.checked_ilog2()? as i32)?;
    if !(0..=60).contains(&k) {
        return None;
    }
    let scaled = a.checked_mul(1i128 << k)?;
    // 2^52 <= mantissa < 2^53: whole * 2^k >= 2^52 and (whole + 1) * 2^k <= 2^53
    let (mut mantissa, rest) = (scaled / BILLION, scaled % BILLION);
    if 2 * rest > BILLION || (2 * rest == BILLION && mantissa % 2 == 1) {
        mantissa += 1; // at most 2^53: still exact
    }
    // mantissa < 2^54: through i64, not the slower i128 conversion
    Some(i64::try_from(mantissa).ok()? as f64 / (1u64 << k) as f64)
}

/// `seconds` by its candidates' exact errors: any magnitude that fits in i128.
fn neighbours(ns: i128, a: i128) -> Option<f64> {
    // Within an ulp of the quotient: the nearest is it or a neighbour, which the
    // exact errors |c * 10^9 - a| decide, all scaled by one power of two.
    let approx = (a / BILLION) as f64 + (a % BILLION) as f64 / 1e9;
    let bits = approx.to_bits();
    let candidates = [bits - 1, bits, bits + 1].map(f64::from_bits);
    let parts = candidates.map(decompose);
    let emin = parts.iter().map(|p| p.map_or(0, |(_, e)| e)).min()?;
    let scale = u32::try_from((-emin).max(0)).ok()?;
    let target = a.checked_mul(1i128.checked_shl(scale)?)?;
    let mut best: Option<(i128, f64)> = None;
    for (candidate, part) in candidates.into_iter().zip(parts) {
        let (m, e) = part?;
        let up = u32::try_from(e + scale as i32).ok()?;
        let value = m
            .checked_mul(BILLION)?
            .checked_mul(1i128.checked_shl(up)?)?;
        let error = (value - target).abs();
        let better = match best {
            None => true,
            Some((least, _)) => error < least || (error == least && m % 2 == 0),
        };
        if better {
            best = Some((error, candidate));
        }
    }
    let (_, value) = best?;
    Some(if ns < 0 { -value } else { value })
}

/// `write_float(seconds(ns))`: where the nanoseconds' own digits are the shortest that
/// round-trip, straight from the integer (every time of a capture in microseconds).
pub fn write_seconds(out: &mut String, ns: i128) -> Option<()> {
    if !write_own_digits(out, ns) {
        write_float(out, seconds(ns)?);
    }
    Some(())
}

/// Write NS / 10^9 as its decimal digits if they are what `write_float` would write:
/// when its last nonzero digit is worth more than the double's spacing there, no other
/// string of as many digits or fewer lies close enough to round-trip, so the shortest
/// is these digits themselves. False (nothing written) otherwise.
fn write_own_digits(out: &mut String, ns: i128) -> bool {
    // 1 ms up to u64's end (the year 2554): fixed notation, and cheap division
    let Ok(ns) = u64::try_from(ns) else {
        return false;
    };
    if ns < 1_000_000 {
        return false;
    }
    const BILLION_U64: u64 = BILLION as u64;
    let (whole, mut fraction) = (ns / BILLION_U64, ns % BILLION_U64);
    let (mut step, mut width) = (1u64, 9usize);
    if fraction == 0 {
        step = BILLION_U64;
    } else {
        // a microsecond or millisecond time's zeros at once, then the rest one by one
        if fraction % 1_000_000 == 0 {
            (fraction, step, width) = (fraction / 1_000_000, 1_000_000, 3);
        } else if fraction % 1000 == 0 {
            (fraction, step, width) = (fraction / 1000, 1000, 6);
        }
        while fraction % 10 == 0 {
            fraction /= 10;
            step *= 10;
            width -= 1;
        }
    }
    // The double's spacing is at most 2^(log2(value) + 1 - 52) (the +1 for a value
    // rounded up to the next power of two): 2^-(shift) seconds.
    let log2 = if whole > 0 {
        whole.ilog2() as i32
    } else {
        ns.ilog2() as i32 - 29 // ns < 2^(log2 + 1) and 10^9 > 2^29
    };
    let shift = 51 - log2;
    if shift < 0 || u128::from(step) << shift <= u128::from(BILLION_U64) {
        return false;
    }
    let mut digits = itoa::Buffer::new();
    out.push_str(digits.format(whole));
    out.push('.');
    if fraction == 0 {
        out.push('0');
    } else {
        let text = digits.format(fraction);
        out.push_str(&"000000000"[..width - text.len()]); // its leading zeros
        out.push_str(text);
    }
    true
}

/// A normal double as m * 2^e (m with its implicit bit); None for the rest.
fn decompose(x: f64) -> Option<(i128, i32)> {
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7FF) as i32;
    if exponent == 0 || exponent == 0x7FF {
        return None;
    }
    Some((
        i128::from((bits & ((1 << 52) - 1)) | (1 << 52)),
        exponent - 1075,
    ))
}

/// A double as orjson writes it: the shortest digits that round-trip (as repr), in
/// fixed notation from 1e-5 up to 1e16, else as d.ddde-6 / d.ddde+16.
pub fn float_repr(x: f64) -> String {
    let mut out = String::new();
    write_float(&mut out, x);
    out
}

/// `float_repr` appended to `out`. In fixed notation's range the `ryu` crate writes
/// the same shortest digits in the same form ("100.0", "0.00001"), a few times faster
/// than `Display`; where two strings tie (`may_tie`), the digit string decides.
fn write_float(out: &mut String, x: f64) {
    let magnitude = x.abs();
    if (1e-5..1e16).contains(&magnitude) {
        let mut buffer = ryu::Buffer::new();
        let written = buffer.format_finite(x);
        let bytes = written.as_bytes();
        let digits = bytes.iter().filter(|b| b.is_ascii_digit());
        let leading = digits.clone().take_while(|&&b| b == b'0').count();
        // "100.0": the zeros of the whole part are not significant, nor the ".0"
        let (whole, fraction) = written.split_once('.').unwrap_or((written, ""));
        let significant = if fraction == "0" {
            whole.trim_end_matches('0').len() - whole.starts_with('-') as usize
        } else {
            digits.count() - leading
        };
        if !may_tie(magnitude, significant) {
            out.push_str(written);
            return;
        }
    }
    out.push_str(&slow_float_repr(x));
}

/// `float_repr` from the digit string: any double.
fn slow_float_repr(x: f64) -> String {
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    let sign = if x < 0.0 { "-" } else { "" };
    let (digits, exp) = shortest_digits(x.abs());
    if (-5..16).contains(&exp) {
        if exp >= 0 {
            let whole = exp as usize + 1;
            let (int_part, frac) = if digits.len() > whole {
                (digits[..whole].to_string(), digits[whole..].to_string())
            } else {
                (
                    format!("{digits}{}", "0".repeat(whole - digits.len())),
                    String::new(),
                )
            };
            let frac = if frac.is_empty() {
                "0".to_string()
            } else {
                frac
            };
            format!("{sign}{int_part}.{frac}")
        } else {
            format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize))
        }
    } else {
        let mantissa = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let exp_sign = if exp < 0 { "-" } else { "+" };
        format!("{sign}{mantissa}e{exp_sign}{}", exp.abs())
    }
}

/// The digits of `{:e}` (d.ddde±x) and the exponent.
fn scientific(x: f64, precision: Option<usize>) -> (String, i32) {
    let text = match precision {
        Some(p) => format!("{x:.p$e}"),
        None => format!("{x:e}"),
    };
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let digits = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exp.parse().unwrap_or(0))
}

/// The shortest digits that round-trip, as Python's repr picks them: of the strings of
/// that length, the one nearest the double's exact value, a tie to the even digit.
/// Rust's shortest digits agree but for that tie (`…0312|5` it writes `…313`).
fn shortest_digits(x: f64) -> (String, i32) {
    let (digits, exp) = scientific(x, None);
    if !may_tie(x, digits.len()) {
        return (digits, exp);
    }
    settle_tie(x, digits, exp)
}

/// `shortest_digits` by the exact expansion (slow: up to 800 digits).
fn settle_tie(x: f64, digits: String, exp: i32) -> (String, i32) {
    let n = digits.len();
    // A tie needs the exact expansion to stop at digit n + 1, with a 5 there.
    let (long, _) = scientific(x, Some(40));
    let tie = long.as_bytes().get(n) == Some(&b'5') && long[n + 1..].bytes().all(|b| b == b'0');
    if !tie {
        return (digits, exp);
    }
    let (exact, exact_exp) = scientific(x, Some(800)); // every double's expansion fits
    if exact[n + 1..].bytes().any(|b| b != b'0') {
        return (digits, exp); // above the half: Rust's rounding up is right
    }
    let down = &exact[..n];
    let last = down.as_bytes()[n - 1] - b'0';
    if last % 2 == 0 {
        let candidate = format!("{}.{}e{exact_exp}", &down[..1], &down[1..]);
        if candidate.parse::<f64>() == Ok(x) {
            return (down.to_string(), exact_exp);
        }
    }
    (digits, exp)
}

/// Could the exact expansion of `x` (> 0) stop at significant digit n + 1 with a 5, a
/// tie between two n-digit strings? Decided in integers, without the slow exact
/// formatting, for nearly every double: x = m * 2^e with m odd is m * 5^-e / 10^-e
/// when e < 0, whose significant digits are those of m * 5^-e (odd: no trailing zero).
fn may_tie(x: f64, n: usize) -> bool {
    let Some((m, e)) = decompose(x) else {
        return true; // subnormal: the exact path decides
    };
    let zeros = m.trailing_zeros();
    let (m, e) = ((m >> zeros) as u128, e + zeros as i32);
    if e < 0 {
        // m * 5^-e has at least digits(m) + floor(-e * log10 5) digits (0.69897 is just
        // under log10 5): more than n + 1, it cannot stop at digit n + 1. A timestamp's
        // (-e about 22) has some 31.
        let at_least = m.ilog10() as u64 + 1 + u64::from(e.unsigned_abs()) * 69_897 / 100_000;
        if at_least > n as u64 + 1 {
            return false;
        }
    }
    let exact = if e < 0 {
        // 5^28 alone has 20 digits: more than any tie of a 17-digit string needs
        match 5u128
            .checked_pow(e.unsigned_abs())
            .and_then(|p| m.checked_mul(p))
        {
            Some(v) if e >= -27 => v,
            _ => return false,
        }
    } else {
        match 1u128.checked_shl(e as u32).and_then(|p| m.checked_mul(p)) {
            Some(v) => v,
            None => return true, // past 2^128: the exact path decides
        }
    };
    let mut v = exact;
    while v % 10 == 0 {
        v /= 10;
    }
    v % 10 == 5 && v.ilog10() as usize + 1 == n + 1
}

/// A JSON string as orjson escapes it: quote, backslash and control characters.
/// Does a byte of S need escaping in JSON (a control, '"' or '\\')? Eight bytes at a
/// time: the strings are explanations and paths, and this test was most of their cost.
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // a byte below N (N <= 0x80) makes its high bit set here: exact for the word
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGHS;
    let mut words = s.chunks_exact(8);
    for w in &mut words {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        if below(x, 0x20) | below(x ^ (ONES * 0x22), 1) | below(x ^ (ONES * 0x5c), 1) != 0 {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

pub(crate) fn string(out: &mut String, s: &str) {
    out.push('"');
    if !needs_escape(s.as_bytes()) {
        out.push_str(s); // nearly every string: nothing to escape
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A member's name with its comma, quotes and colon (`,"name":`), made at compile
/// time by `k!` (the crate's writers make them no other way), so a bare name cannot
/// reach `key`.
#[derive(Clone, Copy)]
pub(crate) struct Key(pub(crate) &'static str);

macro_rules! k {
    ($name:literal) => {
        $crate::conns_json::Key(concat!(",\"", $name, "\":"))
    };
}
pub(crate) use k;

/// One JSON object, written member by member.
pub(crate) struct Object<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Object<'a> {
    pub(crate) fn new(out: &'a mut String) -> Object<'a> {
        out.push('{');
        Object { out, first: true }
    }

    /// A member's name as `k!` spells it (`,"name":`): one push, the comma dropped
    /// before the first member.
    #[inline(always)] // the name's length known where it is written: no memcpy call
    pub(crate) fn key(&mut self, Key(quoted): Key) -> &mut String {
        let text = if self.first { &quoted[1..] } else { quoted };
        self.first = false;
        self.out.push_str(text);
        self.out
    }

    /// A member whose name is known only at run time (`omitted`'s list names).
    fn dynamic_key(&mut self, name: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        // the members' names are ours, plain ASCII: nothing to escape
        debug_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        self.out.push('"');
        self.out.push_str(name);
        self.out.push_str("\":");
        self.out
    }

    #[inline(always)] // the name's length known where it is written: no memcpy call
    pub(crate) fn int(&mut self, name: Key, value: impl itoa::Integer) {
        let out = self.key(name);
        out.push_str(itoa::Buffer::new().format(value));
    }

    #[inline(always)] // the name's length known where it is written: no memcpy call
    pub(crate) fn opt_int<T: itoa::Integer>(&mut self, name: Key, value: Option<T>) {
        match value {
            Some(v) => self.int(name, v),
            None => self.key(name).push_str("null"),
        }
    }

    #[inline(always)] // the name's length known where it is written: no memcpy call
    pub(crate) fn text(&mut self, name: Key, value: &str) {
        let out = self.key(name);
        string(out, value);
    }

    #[inline(always)] // the name's length known where it is written: no memcpy call
    pub(crate) fn time(&mut self, name: Key, ns: Option<i128>) -> Option<()> {
        match ns {
            None => self.key(name).push_str("null"),
            Some(ns) => write_seconds(self.key(name), ns)?,
        }
        Some(())
    }

    pub(crate) fn end(self) {
        self.out.push('}');
    }
}

pub(crate) fn list<T>(
    out: &mut String,
    items: &[T],
    mut each: impl FnMut(&mut String, &T) -> Option<()>,
) -> Option<()> {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        each(out, item)?;
    }
    out.push(']');
    Some(())
}

fn packet(out: &mut String, p: &PacketRef) -> Option<()> {
    let mut o = Object::new(out);
    o.int(k!("frame"), p.frame);
    o.time(k!("time"), Some(p.ts_ns))?;
    o.int(k!("ttl"), p.ttl);
    o.opt_int(k!("ip_id"), (p.ip_id >= 0).then_some(p.ip_id));
    o.end();
    Some(())
}

fn reset(out: &mut String, r: &ResetRec) -> Option<()> {
    let mut o = Object::new(out);
    o.int(k!("frame"), r.frame);
    o.time(k!("time"), Some(r.ts_ns))?;
    o.text(k!("sender"), r.sender);
    o.text(k!("phase"), r.phase);
    o.int(k!("ttl"), r.ttl);
    o.opt_int(k!("ip_id"), (r.ip_id >= 0).then_some(r.ip_id));
    o.int(k!("seq"), r.seq);
    o.end();
    Some(())
}

fn options(out: &mut String, opts: &Option<TcpOptionsRec>) {
    let Some(t) = opts else {
        out.push_str("null");
        return;
    };
    let mut o = Object::new(out);
    o.opt_int(k!("mss"), t.mss);
    o.opt_int(k!("wscale"), t.wscale);
    o.key(k!("sack_permitted"))
        .push_str(if t.sack_permitted { "true" } else { "false" });
    o.opt_int(k!("tsval"), t.tsval);
    o.opt_int(k!("tsecr"), t.tsecr);
    o.text(k!("layout"), &t.layout);
    o.end();
}

fn direction(out: &mut String, d: &DirectionRec) -> Option<()> {
    let mut o = Object::new(out);
    o.int(k!("packets"), d.packets);
    o.int(k!("payload_bytes"), d.payload_bytes);
    o.int(k!("retransmitted_bytes"), d.retransmitted_bytes);
    list(o.key(k!("fin_frames")), &d.fin_frames, |out, &f| {
        out.push_str(itoa::Buffer::new().format(f)); // core::fmt took 1.5% of a run
        Some(())
    })?;
    o.time(k!("last_time"), d.last_ts_ns)?;
    o.time(k!("first_fin_time"), d.fin_ts_ns)?;
    o.end();
    Some(())
}

fn exchange(out: &mut String, x: &Option<ExchangeRec>) -> Option<()> {
    let Some(x) = x else {
        out.push_str("null");
        return Some(());
    };
    let mut o = Object::new(out);
    o.int(k!("requests"), x.requests);
    o.int(k!("responses"), x.responses);
    o.int(k!("response_bytes"), x.response_bytes);
    o.opt_int(k!("response_expected"), x.response_expected);
    if x.problem.is_empty() {
        o.key(k!("problem")).push_str("null");
    } else {
        o.text(k!("problem"), &x.problem);
    }
    o.opt_int(k!("answer_frame"), x.answer_frame);
    o.time(k!("answer_time"), x.answer_ts_ns)?;
    o.end();
    Some(())
}

type RequestMessage = Message<crate::payload::RequestFields>;
type ResponseMessage = Message<crate::payload::ResponseFields>;

fn request(out: &mut String, m: &Option<RequestMessage>) -> Option<()> {
    let Some(m) = m else {
        out.push_str("null");
        return Some(());
    };
    let (kind, method, target, version, host, first_bytes) = &m.fields;
    let mut o = Object::new(out);
    o.text(k!("kind"), kind);
    o.int(k!("frame"), m.frame);
    o.text(k!("method"), method);
    o.text(k!("target"), target);
    o.text(k!("version"), version);
    o.text(k!("host"), host);
    o.text(k!("first_bytes"), first_bytes);
    o.time(k!("time"), Some(m.ts_ns))?;
    o.end();
    Some(())
}

fn response(out: &mut String, m: &Option<ResponseMessage>) -> Option<()> {
    let Some(m) = m else {
        out.push_str("null");
        return Some(());
    };
    let (kind, status, reason, tls_version, alert, first_bytes) = &m.fields;
    let mut o = Object::new(out);
    o.text(k!("kind"), kind);
    o.int(k!("frame"), m.frame);
    o.int(k!("status"), *status);
    o.text(k!("reason"), reason);
    o.text(k!("tls_version"), tls_version);
    o.text(k!("alert"), alert);
    o.text(k!("first_bytes"), first_bytes);
    o.time(k!("time"), Some(m.ts_ns))?;
    o.end();
    Some(())
}

/// An endpoint as `str(model.Endpoint)` writes it.
/// "address:port" ("[v6]:port") as a JSON string, without a String of its own.
fn endpoint(out: &mut String, address: &str, port: u16) {
    let v6 = address.contains(':');
    if !address
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
    {
        // not an address's usual text: escaped as any other string
        let text = if v6 {
            format!("[{address}]:{port}")
        } else {
            format!("{address}:{port}")
        };
        string(out, &text);
        return;
    }
    out.push_str(if v6 { "\"[" } else { "\"" });
    out.push_str(address);
    out.push_str(if v6 { "]:" } else { ":" });
    out.push_str(itoa::Buffer::new().format(port));
    out.push('"');
}

/// The record's JSON appended to `out`; `client` and `server` are the addresses'
/// text. False, and `out` as it was, when a value is beyond what the core writes
/// exactly (the caller writes it in Python).
pub fn record_into(out: &mut String, r: &Record, client: &str, server: &str) -> bool {
    let start = out.len();
    if write_record(out, r, client, server).is_none() {
        out.truncate(start);
        return false;
    }
    true
}

fn write_record(out: &mut String, r: &Record, client: &str, server: &str) -> Option<()> {
    let mut o = Object::new(out);
    o.int(k!("id"), r.id);
    endpoint(o.key(k!("client")), client, r.client.1);
    endpoint(o.key(k!("server")), server, r.server.1);
    o.text(k!("conn_state"), r.conn_state);
    o.text(k!("history"), &r.history);
    o.opt_int(k!("client_isn"), r.client_isn);
    o.opt_int(k!("server_isn"), r.server_isn);
    o.int(k!("first_frame"), r.first_frame);
    o.int(k!("last_frame"), r.last_frame);
    o.time(k!("start"), Some(r.first_ts_ns))?;
    o.time(k!("end"), Some(r.last_ts_ns))?;
    o.time(
        k!("duration"),
        Some(r.last_ts_ns.checked_sub(r.first_ts_ns)?),
    )?;
    list(o.key(k!("syns")), &r.syns, packet)?;
    list(o.key(k!("synacks")), &r.synacks, packet)?;
    o.opt_int(k!("handshake_frame"), r.handshake_frame);
    list(o.key(k!("resets")), &r.resets, reset)?;
    options(o.key(k!("syn_options")), &r.syn_options);
    options(o.key(k!("synack_options")), &r.synack_options);
    direction(o.key(k!("client_sent")), &r.client_sent)?;
    direction(o.key(k!("server_sent")), &r.server_sent)?;
    request(o.key(k!("request")), &r.request)?;
    response(o.key(k!("response")), &r.response)?;
    list(o.key(k!("tls_alerts")), &r.tls_alerts, |out, a| {
        let mut o = Object::new(out);
        o.int(k!("frame"), a.frame);
        o.time(k!("time"), Some(a.ts_ns))?;
        o.text(k!("sender"), a.sender);
        o.text(k!("alert"), &a.alert);
        o.end();
        Some(())
    })?;
    o.int(k!("gaps"), r.gaps);
    o.text(k!("ended_by"), r.ended_by);
    {
        let omitted = o.key(k!("omitted"));
        let mut inner = Object::new(omitted);
        for (name, count) in &r.omitted {
            inner
                .dynamic_key(name)
                .push_str(itoa::Buffer::new().format(*count));
        }
        inner.end();
    }
    exchange(o.key(k!("exchange")), &r.exchange)?;
    exchange(o.key(k!("exchange_at_rst")), &r.exchange_at_rst)?;
    o.end();
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_as_python_and_orjson_write_them() {
        for (x, text) in [
            (1e-6, "1e-6"),
            (1.5e-7, "1.5e-7"),
            (0.0001, "0.0001"),
            (5.7e-5, "0.000057"),
            (9.9e-6, "9.9e-6"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (1700000000.123456, "1700000000.123456"),
            (0.0, "0.0"),
            (2.5, "2.5"),
            (100.0, "100.0"),
            (-0.25, "-0.25"),
            (1_899_867_431.457_031_3, "1899867431.4570312"), // exactly …0312|5: a tie
        ] {
            assert_eq!(float_repr(x), text);
        }
    }

    #[test]
    fn the_integer_tie_test_agrees_with_the_exact_expansion() {
        let mut noise = crate::noise::Noise::new(0x2545_f491_4f6c_dd1d);
        let mut next = move || noise.next();
        for i in 0..200_000u64 {
            let x = match i % 4 {
                0 => f64::from_bits(next() >> 2), // any positive double
                1 => (next() >> 11) as f64 / (1u64 << (next() % 40)) as f64, // k / 2^j
                2 => 1.7e9 + (next() % 1_000_000_000) as f64 / 1e9, // a time
                _ => (next() % 100_000_000) as f64 / 2f64.powi((next() % 30) as i32),
            };
            if !(x.is_finite() && x > 0.0) {
                continue;
            }
            let (digits, exp) = scientific(x, None);
            assert_eq!(
                shortest_digits(x),
                settle_tie(x, digits.clone(), exp),
                "{x:e}"
            );
            assert_eq!(float_repr(x), slow_float_repr(x), "{x:e}");
            assert_eq!(float_repr(-x), slow_float_repr(-x), "{x:e}");
        }
    }

    #[test]
    fn one_division_agrees_with_the_neighbours_exact_errors() {
        let mut noise = crate::noise::Noise::new(0x1234_5678_9abc_def1);
        let mut next = move || noise.next();
        let billion = 1_000_000_000i128;
        for i in 0..300_000u64 {
            let a: i128 = match i % 4 {
                // times of day: 2026's seconds and any nanosecond
                0 => 1_700_000_000 * billion + i128::from(next() % 100_000_000_000_000_000),
                1 => (1i128 << 53) + i128::from(next() >> (next() % 11)),
                2 => i128::from(next() | (1 << 53)),
                // ties: a * 2^k = m * 10^9 + 5 * 10^8 for small k (huge values)
                _ => {
                    let k = next() % 8;
                    let m = i128::from((next() >> 11) | (1 << 52));
                    let exact = m * billion + billion / 2;
                    if exact % (1 << k) != 0 {
                        continue;
                    }
                    exact >> k
                }
            };
            for ns in [a, -a] {
                let fast = by_one_division(a).map(|v| if ns < 0 { -v } else { v });
                assert_eq!(fast, neighbours(ns, a), "{ns}");
                assert_eq!(seconds(ns), neighbours(ns, a), "{ns}");
            }
        }
    }

    #[test]
    fn seconds_from_their_own_digits_are_the_floats_digits() {
        let mut noise = crate::noise::Noise::new(7);
        let billion = 1_000_000_000i128;
        let mut fast = 0;
        for i in 0..400_000u64 {
            let r = i128::from(noise.next() >> 1);
            let ns = match i % 6 {
                0 => 1_700_000_000 * billion + r % (100_000 * billion) / 1_000 * 1_000,
                1 => 1_700_000_000 * billion + r % (100_000 * billion),
                2 => r % (10 * billion) / 1_000 * 1_000, // durations, microseconds
                3 => r % (4_000_000_000 * billion) / 1_000_000 * 1_000_000,
                4 => r % (1i128 << (r % 64)),
                _ => (1i128 << (r % 64)) + i128::from(i % 3) - 1, // around powers of two
            };
            let mut own = String::new();
            fast += usize::from(write_own_digits(&mut own, ns));
            let mut expected = String::new();
            write_float(&mut expected, seconds(ns).unwrap());
            let mut written = String::new();
            write_seconds(&mut written, ns).unwrap();
            assert_eq!(written, expected, "{ns}");
            assert!(own.is_empty() || own == expected, "{ns}: {own} {expected}");
        }
        assert!(fast > 150_000, "the own-digits path took only {fast}");
    }

    #[test]
    fn seconds_round_the_exact_quotient() {
        // 1700000000123456789 ns: the nearest double to 1700000000.123456789
        let s = seconds(1_700_000_000_123_456_789).unwrap();
        assert_eq!(float_repr(s), "1700000000.1234567");
        assert_eq!(seconds(1_500_000_000), Some(1.5));
        assert_eq!(seconds(-1_500_000_000), Some(-1.5));
    }

    #[test]
    fn endpoints_are_written_as_address_and_port() {
        let written = |address: &str, port: u16| {
            let mut out = String::from("x");
            endpoint(&mut out, address, port);
            out
        };
        assert_eq!(written("198.51.100.7", 443), "x\"198.51.100.7:443\"");
        assert_eq!(written("2001:db8::1", 80), "x\"[2001:db8::1]:80\"");
        // not an address's usual text: escaped as any string, brackets and all
        assert_eq!(written("fe80::1%\"eth0", 80), "x\"[fe80::1%\\\"eth0]:80\"");
        assert_eq!(written("a\u{1}b", 1), "x\"a\\u0001b:1\"");
    }

    #[test]
    fn a_byte_to_escape_is_found_wherever_it_is() {
        for len in 0..24 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    let naive = bytes.iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\');
                    assert_eq!(needs_escape(&bytes), naive, "{bytes:?}");
                }
            }
            // the bytes beside the ones to escape, each byte of a word alike
            let near: Vec<u8> = (0..len)
                .map(|i| [0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xff][i % 8])
                .collect();
            assert!(!needs_escape(&near), "{near:?}");
        }
    }

    #[test]
    fn strings_are_escaped_as_orjson_escapes_them() {
        let mut out = String::new();
        string(
            &mut out,
            "a\"b\\c\u{1}\u{1f}\u{7f}é\u{202e}\n\t\r\u{8}\u{c}",
        );
        assert_eq!(
            out,
            "\"a\\\"b\\\\c\\u0001\\u001f\u{7f}é\u{202e}\\n\\t\\r\\b\\f\""
        );
    }
}
