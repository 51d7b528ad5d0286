//! What the first bytes of each direction say: the HTTP request line and Host, the
//! status line, TLS hellos (SNI, versions) and alerts. The same rules and words as
//! the Python parsers it replaced (kept as tests/payload_reference.py). Every parser
//! is total: a record, or None while more bytes could complete it; never a panic.

use crate::bytes::strip;

pub const MAX_HEAD_BYTES: usize = 8192;

const HTTP_METHODS: [&[u8]; 14] = [
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"PRI",
    b"PROPFIND",
    b"MKCOL",
    b"COPY",
    b"MOVE",
];

fn tls_version_name(v: u32) -> String {
    match v {
        0x0300 => "SSL 3.0".into(),
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        _ => format!("0x{v:04x}"),
    }
}

fn known_version(v: u32) -> bool {
    (0x0300..=0x0304).contains(&v)
}

fn alert_name(code: u8) -> String {
    let name = match code {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return format!("alert{code}"),
    };
    name.to_string()
}

/// Is this character shown as an escape (text.py's _UNSAFE, less the byte escapes)?
fn unsafe_char(c: char) -> bool {
    let u = c as u32;
    u <= 0x1f
        || (0x7f..=0x9f).contains(&u)
        || matches!(u, 0x061c | 0x200e | 0x200f | 0x2028 | 0x2029 | 0xfeff)
        || (0x202a..=0x202e).contains(&u)
        || (0x2066..=0x2069).contains(&u)
}

/// Bytes from a packet as text safe anywhere: UTF-8, every byte that is not as
/// `\xNN`, every control or bidi character as `\xNN` or `\uNNNN` (text.wire_text).
pub fn wire_text(raw: &[u8]) -> String {
    if raw.iter().all(|b| (0x20..0x7f).contains(b)) {
        // printable ASCII, nearly every method, path and Host: nothing to escape
        if let Ok(text) = std::str::from_utf8(raw) {
            return text.to_owned();
        }
    }
    let mut out = String::with_capacity(raw.len());
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if unsafe_char(c) {
                let u = c as u32;
                if u < 0x100 {
                    out.push_str(&format!("\\x{u:02x}"));
                } else {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

fn hex(data: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for &b in data.iter().take(16) {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xF)]));
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    crate::bytes::find(haystack, needle, 0)
}

/// int.from_bytes(s, "big") of a short slice.
fn be(s: &[u8]) -> u32 {
    s.iter().fold(0, |n, &b| (n << 8) | u32::from(b))
}

/// data[a:b] as Python slices it: clamped, empty when a > b.
fn slice(data: &[u8], a: usize, b: usize) -> &[u8] {
    let b = b.min(data.len());
    if a >= b {
        &[]
    } else {
        &data[a..b]
    }
}

/// bytes.split(sep) (no limit): every piece, empty ones included, as they are found
/// (no Vec of them).
fn split<'a>(data: &'a [u8], sep: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let here = rest?;
        match find(here, sep) {
            Some(i) => {
                rest = Some(&here[i + sep.len()..]);
                Some(&here[..i])
            }
            None => {
                rest = None;
                Some(here)
            }
        }
    })
}

/// The body of the first handshake message, joined across TLS records: None while
/// more bytes could complete it, Some(empty) when it is another message type.
fn tls_handshake(data: &[u8], msg_type: u8) -> Option<Vec<u8>> {
    let mut joined: Vec<u8> = Vec::new();
    let mut pos = 0usize;
    while pos + 5 <= data.len() {
        if data[pos] != 0x16 {
            break;
        }
        let length = be(&data[pos + 3..pos + 5]) as usize;
        joined.extend_from_slice(slice(data, pos + 5, pos + 5 + length));
        pos += 5 + length;
        if joined.len() >= 4 {
            if joined[0] != msg_type {
                return Some(Vec::new());
            }
            let need = 4 + be(&joined[1..4]) as usize;
            if joined.len() >= need {
                return Some(joined[4..need].to_vec());
            }
        }
    }
    None
}

/// The extension of `wanted` type (the first one), from the extensions block at `pos`.
fn extension(hello: &[u8], pos: usize, wanted: u32) -> Vec<u8> {
    if pos + 2 > hello.len() {
        return Vec::new();
    }
    let end = hello.len().min(pos + 2 + be(&hello[pos..pos + 2]) as usize);
    let mut pos = pos + 2;
    while pos + 4 <= end {
        let ext_type = be(&hello[pos..pos + 2]);
        let length = be(&hello[pos + 2..pos + 4]) as usize;
        if ext_type == wanted {
            return slice(hello, pos + 4, pos + 4 + length).to_vec();
        }
        pos += 4 + length;
    }
    Vec::new()
}

fn client_extension(hello: &[u8], wanted: u32) -> Vec<u8> {
    let mut pos = 2 + 32;
    let Some(&session) = hello.get(pos) else {
        return Vec::new();
    };
    pos += 1 + usize::from(session);
    pos += 2 + be(slice(hello, pos, pos + 2)) as usize; // cipher suites
    let Some(&compression) = hello.get(pos) else {
        return Vec::new();
    };
    pos += 1 + usize::from(compression);
    extension(hello, pos, wanted)
}

fn sni(hello: &[u8]) -> String {
    let ext = client_extension(hello, 0);
    let mut pos = 2;
    while pos + 3 <= ext.len() {
        let (name_type, length) = (ext[pos], be(&ext[pos + 1..pos + 3]) as usize);
        if name_type == 0 {
            return wire_text(slice(&ext, pos + 3, pos + 3 + length));
        }
        pos += 3 + length;
    }
    String::new()
}

fn client_version(hello: &[u8]) -> String {
    if hello.len() < 2 {
        return String::new();
    }
    let versions = client_extension(hello, 43);
    let best = (1..versions.len().saturating_sub(1))
        .step_by(2)
        .map(|i| be(&versions[i..i + 2]))
        .filter(|&v| known_version(v))
        .max()
        .unwrap_or_else(|| be(&hello[..2]));
    tls_version_name(best)
}

fn server_version(hello: &[u8]) -> String {
    if hello.len() < 2 {
        return String::new();
    }
    let mut version = be(&hello[..2]);
    if let Some(&session) = hello.get(34) {
        let pos = 34 + 1 + usize::from(session) + 3;
        let chosen = extension(hello, pos, 43);
        if chosen.len() == 2 {
            version = be(&chosen);
        }
    }
    tls_version_name(version)
}

/// 'fatal handshake_failure' if `payload` starts with a cleartext TLS alert, else ''.
pub fn tls_alert(p: &[u8]) -> String {
    if p.len() >= 7 && p[0] == 0x15 && p[1] == 3 && p[3..5] == [0, 2] {
        let level = match p[5] {
            1 => "warning".to_string(),
            2 => "fatal".to_string(),
            n => format!("level{n}"),
        };
        return format!("{level} {}", alert_name(p[6]));
    }
    String::new()
}

/// The client's first message: (kind, method, target, version, host, first_bytes).
pub type RequestFields = (&'static str, String, String, String, String, String);
/// The server's first message: (kind, status, reason, tls_version, alert, first_bytes).
pub type ResponseFields = (&'static str, u32, String, String, String, String);

pub fn parse_request(data: &[u8], fin: bool) -> Option<RequestFields> {
    let e = String::new;
    if data.is_empty() {
        return None;
    }
    if data[0] == 0x16 && data.len() > 1 && data[1] == 3 {
        return match tls_handshake(data, 1) {
            None if fin || data.len() >= MAX_HEAD_BYTES => Some(("tls", e(), e(), e(), e(), e())),
            None => None,
            Some(hello) => Some(("tls", e(), e(), client_version(&hello), sni(&hello), e())),
        };
    }
    let method = data.split(|&b| b == b' ').next().unwrap_or(b"");
    if !HTTP_METHODS.contains(&method) {
        return Some(("other", e(), e(), e(), e(), hex(data)));
    }
    let head_end = find(data, b"\r\n\r\n");
    if head_end.is_none() && !fin && data.len() < MAX_HEAD_BYTES {
        return None;
    }
    let line_end = find(data, b"\r\n").unwrap_or(data.len());
    let mut parts = split(&data[..line_end], b" ").skip(1);
    let target = parts.next().map_or_else(e, wire_text);
    let version = parts.next().map_or_else(e, wire_text);
    let mut host = e();
    for line in split(
        slice(data, line_end + 2, head_end.unwrap_or(data.len())),
        b"\r\n",
    ) {
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &b""[..]),
        };
        if strip(name).eq_ignore_ascii_case(b"host") {
            host = wire_text(strip(value));
            break;
        }
    }
    Some(("http", wire_text(method), target, version, host, e()))
}

pub fn parse_response(data: &[u8], fin: bool) -> Option<ResponseFields> {
    let e = String::new;
    if data.is_empty() {
        return None;
    }
    if data.starts_with(b"HTTP/") {
        let line_end = match find(data, b"\r\n") {
            Some(i) => i,
            None if !fin && data.len() < MAX_HEAD_BYTES => return None,
            None => data.len(),
        };
        let line = &data[..line_end];
        let mut parts = line.splitn(3, |&b| b == b' ');
        let _version = parts.next();
        let status = parts.next();
        let reason = parts.next();
        if let Some(s) = status.filter(|s| s.len() == 3 && s.iter().all(u8::is_ascii_digit)) {
            let code = s.iter().fold(0, |n, &d| n * 10 + u32::from(d - b'0'));
            let reason = reason.map_or_else(e, wire_text);
            return Some(("http", code, reason, e(), e(), e()));
        }
        let reason = format!("malformed status line: {}", wire_text(slice(line, 0, 200)));
        return Some(("http", 0, reason, e(), e(), e()));
    }
    if data.len() > 1 && data[1] == 3 && (data[0] == 0x15 || data[0] == 0x16) {
        let alert = tls_alert(data);
        if !alert.is_empty() {
            return Some(("tls", 0, e(), e(), alert, e()));
        }
        return match tls_handshake(data, 2) {
            None if fin || data.len() >= MAX_HEAD_BYTES => Some(("tls", 0, e(), e(), e(), e())),
            None => None,
            Some(hello) => Some(("tls", 0, e(), server_version(&hello), e(), e())),
        };
    }
    Some(("other", 0, e(), e(), e(), hex(data)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_as_text_py_does() {
        assert_eq!(
            wire_text(b"a\x1b[2J\xff\xc3\xa9\xe2\x80\xae"),
            "a\\x1b[2J\\xffé\\u202e"
        );
        assert_eq!(wire_text("\u{85}".as_bytes()), "\\x85");
        assert_eq!(wire_text(b"\xed\xa0\x80"), "\\xed\\xa0\\x80"); // a surrogate
    }

    #[test]
    fn http_request_and_response() {
        let r = parse_request(b"GET /a HTTP/1.1\r\nX: y\r\nhost:  ex.com \r\n\r\n", false);
        assert_eq!(
            r.map(|f| (f.1, f.2, f.3, f.4)),
            Some((
                "GET".into(),
                "/a".into(),
                "HTTP/1.1".into(),
                "ex.com".into()
            ))
        );
        assert_eq!(parse_request(b"GET /a HTTP/1.1\r\n", false), None);
        let s = parse_response(b"HTTP/1.1 404 Not Found\r\n", false).unwrap();
        assert_eq!((s.1, s.2.as_str()), (404, "Not Found"));
        let bad = parse_response(b"HTTP/1.1 2x0\r\n", false).unwrap();
        assert_eq!(bad.2, "malformed status line: HTTP/1.1 2x0");
    }

    #[test]
    fn tls_alert_names() {
        assert_eq!(
            tls_alert(&[0x15, 3, 3, 0, 2, 2, 40]),
            "fatal handshake_failure"
        );
        assert_eq!(tls_alert(&[0x15, 3, 3, 0, 2, 9, 250]), "level9 alert250");
    }

    #[test]
    fn garbage_never_panics() {
        let mut noise = crate::noise::Noise::new(0xdead_beef);
        let alphabet = [
            0x16, 0x03, 0x01, 0x00, 0x02, 0x2b, 0xff, b'G', b'E', b'T', b' ',
        ];
        for len in 0..400 {
            let data = noise.bytes(len, &alphabet);
            for fin in [false, true] {
                parse_request(&data, fin);
                parse_response(&data, fin);
            }
        }
    }
}
