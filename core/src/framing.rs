//! Where each message of one direction of a TCP stream begins and ends: HTTP/1.x
//! heads, bodies, chunks and trailers (RFC 9112 section 6), TLS records (RFC 8446
//! section 5.1). The same rules, states and words as the Python framer it replaced
//! (kept as the reference in tests/framing_reference.py); nothing here panics on
//! garbage.

use std::collections::VecDeque;

use crate::bytes::{find, strip};

pub const UNBOUNDED: i128 = 1 << 62;
pub const MAX_HTTP_HEAD_BYTES: usize = 65536;
pub const MAX_LINE_BYTES: usize = 4096;
pub const MAX_METHODS: usize = 64;
const STATUS_PREFIX: &[u8] = b"HTTP/1.";

pub const HEAD: u8 = 0;
pub const BODY: u8 = 1;
pub const CHUNK_SIZE: u8 = 2;
pub const CHUNK_DATA: u8 = 3;
pub const TRAILER: u8 = 4;
pub const UNTIL_CLOSE: u8 = 5;
pub const DONE: u8 = 6;

/// The requests' methods in order, shared by a connection's two framers (pipelining).
pub trait Methods {
    fn len(&self) -> usize;
    fn push(&mut self, method: String);
    fn pop_front(&mut self) -> Option<String>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Methods for VecDeque<String> {
    fn len(&self) -> usize {
        VecDeque::len(self)
    }
    fn push(&mut self, method: String) {
        self.push_back(method);
    }
    fn pop_front(&mut self) -> Option<String> {
        VecDeque::pop_front(self)
    }
}

/// HTTP/1.x message boundaries of one direction of a connection.
#[derive(Debug, Clone, Default)]
pub struct HttpFramer {
    pub is_request: bool,
    pub state: u8,
    pub buf: Vec<u8>,
    pub remaining: i128,
    pub messages: i64,
    pub message_bytes: i128,
    pub expected: Option<i128>,
    pub problem: String,
}

fn is_digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

/// The first value of two headers, by lowercased name (as dict.setdefault keeps it),
/// in one pass over the fields (a pass each was a tenth of `conns`' tracking).
fn headers<'a>(fields: &'a [u8], names: [&[u8]; 2]) -> [Option<&'a [u8]>; 2] {
    let mut found = [None, None];
    for line in fields.split_inner(b"\r\n") {
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = strip(&line[..colon]);
        for (slot, wanted) in found.iter_mut().zip(names) {
            if slot.is_none() && name.eq_ignore_ascii_case(wanted) {
                *slot = Some(strip(&line[colon + 1..]));
            }
        }
        if found.iter().all(Option::is_some) {
            break;
        }
    }
    found
}

trait SplitInner {
    fn split_inner<'a>(&'a self, sep: &'a [u8]) -> SplitBy<'a>;
}

impl SplitInner for [u8] {
    fn split_inner<'a>(&'a self, sep: &'a [u8]) -> SplitBy<'a> {
        SplitBy {
            rest: Some(self),
            sep,
        }
    }
}

/// bytes.split(sep): every piece, empty ones included.
struct SplitBy<'a> {
    rest: Option<&'a [u8]>,
    sep: &'a [u8],
}

impl<'a> Iterator for SplitBy<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        match find(rest, self.sep, 0) {
            Some(i) => {
                self.rest = Some(&rest[i + self.sep.len()..]);
                Some(&rest[..i])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

fn content_length(value: Option<&[u8]>) -> Option<i128> {
    let value = value?;
    let first = value.split(|&b| b == b',').next().unwrap_or(b"");
    let first = strip(first);
    if is_digits(first) && first.len() <= 18 {
        std::str::from_utf8(first).ok()?.parse().ok()
    } else {
        None
    }
}

/// int(text, 16) as Python reads it: a sign, an optional 0x, digits with single
/// underscores between them. None where Python raises ValueError.
fn python_hex(text: &[u8]) -> Option<i128> {
    let (negative, mut rest) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let mut underscore_ok = false; // an underscore may follow a prefix or a digit
    if rest.len() >= 2 && rest[0] == b'0' && (rest[1] == b'x' || rest[1] == b'X') {
        rest = &rest[2..];
        underscore_ok = true;
    }
    if rest.is_empty() {
        return None;
    }
    let mut value: i128 = 0;
    let mut last_underscore = false;
    for (i, &b) in rest.iter().enumerate() {
        if b == b'_' {
            if last_underscore || (i == 0 && !underscore_ok) {
                return None;
            }
            last_underscore = true;
            continue;
        }
        let digit = (b as char).to_digit(16)?;
        value = value.checked_mul(16)?.checked_add(i128::from(digit))?;
        last_underscore = false;
    }
    if last_underscore {
        return None;
    }
    Some(if negative { -value } else { value })
}

impl HttpFramer {
    pub fn new(is_request: bool) -> Self {
        HttpFramer {
            is_request,
            state: HEAD,
            ..HttpFramer::default()
        }
    }

    /// `n` bytes went by on the fast path, inside what `feed` allowed.
    pub fn skipped(&mut self, n: i128) {
        if self.state == BODY || self.state == CHUNK_DATA {
            self.body(n);
        } else if self.state == UNTIL_CLOSE {
            self.message_bytes += n;
        }
    }

    fn body(&mut self, n: i128) {
        self.remaining -= n;
        self.message_bytes += n;
        if self.remaining == 0 {
            if self.state == BODY {
                self.complete();
            } else {
                self.state = CHUNK_SIZE;
            }
        }
    }

    /// The next in-order bytes; returns how many after them may pass unseen.
    pub fn feed(&mut self, data: &[u8], methods: &mut dyn Methods) -> i128 {
        let mut view = data;
        while !view.is_empty() && self.state != DONE {
            match self.state {
                HEAD => view = self.head(view, methods),
                BODY | CHUNK_DATA => {
                    let take = self.remaining.clamp(0, view.len() as i128) as usize;
                    self.body(take as i128);
                    view = &view[take..];
                    if take == 0 {
                        break; // a negative remainder (told too much skipped): nothing to take
                    }
                }
                CHUNK_SIZE | TRAILER => view = self.line(view),
                _ => {
                    self.message_bytes += view.len() as i128;
                    break;
                }
            }
        }
        self.allowance()
    }

    pub fn allowance(&self) -> i128 {
        match self.state {
            BODY | CHUNK_DATA => self.remaining,
            UNTIL_CLOSE | DONE => UNBOUNDED,
            _ => 0,
        }
    }

    pub fn lose(&mut self) {
        if self.problem.is_empty() {
            self.problem = "lost".to_string();
        }
        self.state = DONE;
    }

    pub fn close(&mut self) {
        if self.state == UNTIL_CLOSE {
            self.complete();
        }
    }

    /// (complete messages, bytes of the one in progress, its size, problem).
    pub fn exchange_part(&self) -> (i64, i128, Option<i128>, String) {
        let in_progress = if self.started() {
            self.message_bytes
        } else {
            0
        };
        let expected = if in_progress != 0 {
            self.expected
        } else {
            None
        };
        (self.messages, in_progress, expected, self.problem.clone())
    }

    fn started(&self) -> bool {
        (self.message_bytes > 0 && self.state != DONE) || self.state == UNTIL_CLOSE
    }

    fn invalid<'a>(&mut self, why: &str) -> &'a [u8] {
        self.problem = format!("invalid: {why}");
        self.state = DONE;
        &[]
    }

    fn complete(&mut self) {
        self.messages += 1;
        self.message_bytes = 0;
        self.expected = None;
        self.state = HEAD;
    }

    fn head<'a>(&mut self, view: &'a [u8], methods: &mut dyn Methods) -> &'a [u8] {
        if self.buf.is_empty() {
            if let Some(rest) = self.whole_head(view, methods) {
                return rest;
            }
        }
        let start = self.buf.len().saturating_sub(3);
        self.buf.extend_from_slice(view);
        if !self.may_be_http(&self.buf) {
            return self.invalid("the answer is not an HTTP/1.x status line");
        }
        let Some(end) = find(&self.buf, b"\r\n\r\n", start) else {
            if self.buf.len() > MAX_HTTP_HEAD_BYTES {
                return self.invalid("a message head over 65536 bytes");
            }
            self.message_bytes += view.len() as i128;
            return &[];
        };
        let head_len = end + 4;
        let used = head_len - (self.buf.len() - view.len());
        let head: Vec<u8> = self.buf[..head_len].to_vec();
        self.buf.clear();
        self.message_bytes += used as i128;
        let rest = &view[used..];
        if !self.begin(&head, head_len, methods) {
            return &[];
        }
        rest
    }

    /// Could an answer starting with these bytes be HTTP/1.x? (A request: any bytes.)
    fn may_be_http(&self, start: &[u8]) -> bool {
        let n = start.len().min(STATUS_PREFIX.len());
        self.is_request || start[..n] == STATUS_PREFIX[..n]
    }

    /// `head` where nothing is held and the segment holds the whole head (nearly
    /// every message): read where it lies, not copied twice. None: it does not.
    fn whole_head<'a>(&mut self, view: &'a [u8], methods: &mut dyn Methods) -> Option<&'a [u8]> {
        if !self.may_be_http(view) {
            return Some(self.invalid("the answer is not an HTTP/1.x status line"));
        }
        let head_len = find(view, b"\r\n\r\n", 0)? + 4;
        self.message_bytes += head_len as i128;
        if !self.begin(&view[..head_len], head_len, methods) {
            return Some(&[]);
        }
        Some(&view[head_len..])
    }

    /// A whole head read: decide how its body is framed. False: stop framing.
    fn begin(&mut self, head: &[u8], head_len: usize, methods: &mut dyn Methods) -> bool {
        let text = &head[..head.len() - 4];
        let (line, fields) = match find(text, b"\r\n", 0) {
            Some(i) => (&text[..i], &text[i + 2..]),
            None => (text, &b""[..]),
        };
        let [coding, length] = headers(fields, [b"transfer-encoding", b"content-length"]);
        let chunked =
            coding.is_some_and(|v| v.windows(7).any(|w| w.eq_ignore_ascii_case(b"chunked")));
        let length = content_length(length);
        let no_body;
        if self.is_request {
            let method = line.split(|&b| b == b' ').next().unwrap_or(b"");
            if methods.len() < MAX_METHODS {
                methods.push(method.iter().map(|&b| b as char).collect()); // latin-1
            }
            no_body = !chunked && length.is_none();
        } else {
            if !line.starts_with(b"HTTP/1.") {
                self.invalid("the answer is not an HTTP/1.x status line");
                return false;
            }
            let status_text = line.get(9..12).unwrap_or(b"");
            let after = line.get(12..13).unwrap_or(b"");
            if line.len() < 12 || !is_digits(status_text) || !(after.is_empty() || after == b" ") {
                self.invalid("a malformed HTTP status line");
                return false;
            }
            let status: u32 = status_text
                .iter()
                .fold(0, |n, &d| n * 10 + u32::from(d - b'0'));
            if (100..200).contains(&status) && status != 101 {
                self.message_bytes = 0; // an interim answer: the real one follows
                return true;
            }
            let method = methods.pop_front().unwrap_or_default();
            if status == 101 {
                self.state = UNTIL_CLOSE;
                return true;
            }
            no_body = method == "HEAD" || status == 204 || status == 304;
            if !no_body && !chunked && length.is_none() {
                self.state = UNTIL_CLOSE;
                return true;
            }
        }
        if no_body {
            self.complete();
        } else if chunked {
            self.state = CHUNK_SIZE;
        } else {
            match length {
                Some(0) | None => self.complete(),
                Some(n) => {
                    self.state = BODY;
                    self.remaining = n;
                    self.expected = Some(head_len as i128 + n);
                }
            }
        }
        true
    }

    /// A chunk-size line (then the chunk) or a trailer line (an empty one ends it).
    fn line<'a>(&mut self, view: &'a [u8]) -> &'a [u8] {
        let start = self.buf.len().saturating_sub(1);
        self.buf.extend_from_slice(view);
        let Some(end) = find(&self.buf, b"\r\n", start) else {
            if self.buf.len() > MAX_LINE_BYTES {
                return self.invalid("a chunk line over 4096 bytes");
            }
            self.message_bytes += view.len() as i128;
            return &[];
        };
        let used = end + 2 - (self.buf.len() - view.len());
        let line: Vec<u8> = self.buf[..end].to_vec();
        self.buf.clear();
        self.message_bytes += used as i128;
        let rest = &view[used..];
        if self.state == TRAILER {
            if line.is_empty() {
                self.complete();
            }
            return rest;
        }
        let size_text = strip(line.split(|&b| b == b';').next().unwrap_or(b""));
        let size = if size_text.len() <= 16 {
            python_hex(size_text).unwrap_or(-1)
        } else {
            -1
        };
        if size < 0 {
            return self.invalid("a malformed chunk size");
        }
        if size == 0 {
            self.state = TRAILER;
        } else {
            self.state = CHUNK_DATA;
            self.remaining = size + 2; // the chunk and its CRLF
        }
        rest
    }
}

pub const RECORD_HEADER: usize = 5;
pub const MAX_RECORDS_KEPT: usize = 16;

/// TLS record boundaries of one direction; counts application data records.
#[derive(Debug, Clone, Default)]
pub struct TlsFramer {
    pub buf: Vec<u8>,
    pub remaining: i128,
    pub state: u8,
    pub app_records: Vec<(i64, i128, i64)>, // (frame, ts_ns, length) of the first few
    pub app_count: i64,
    pub problem: String,
}

impl TlsFramer {
    pub fn skipped(&mut self, n: i128) {
        if self.state == BODY {
            self.remaining -= n;
            if self.remaining == 0 {
                self.state = HEAD;
            }
        }
    }

    pub fn feed(&mut self, data: &[u8], frame: i64, ts_ns: i128) -> i128 {
        let mut view = data;
        while !view.is_empty() && self.state != DONE {
            if self.state == BODY {
                let take = self.remaining.clamp(0, view.len() as i128) as usize;
                self.remaining -= take as i128;
                view = &view[take..];
                if self.remaining == 0 {
                    self.state = HEAD;
                }
                if take == 0 {
                    break;
                }
                continue;
            }
            let need = (RECORD_HEADER - self.buf.len().min(RECORD_HEADER)).min(view.len());
            self.buf.extend_from_slice(&view[..need]);
            view = &view[need..];
            if self.buf.len() < RECORD_HEADER {
                break;
            }
            let (ctype, major) = (self.buf[0], self.buf[1]);
            let length = i64::from(u16::from_be_bytes([self.buf[3], self.buf[4]]));
            self.buf.clear();
            if !(20..=23).contains(&ctype) || major != 3 {
                self.problem = "invalid: not a TLS record".to_string();
                self.state = DONE;
                break;
            }
            if ctype == 23 {
                self.app_count += 1;
                if self.app_records.len() < MAX_RECORDS_KEPT {
                    self.app_records.push((frame, ts_ns, length));
                }
            }
            if length != 0 {
                self.state = BODY;
                self.remaining = i128::from(length);
            }
        }
        if self.state == BODY {
            self.remaining
        } else {
            0
        }
    }

    pub fn lose(&mut self) {
        if self.problem.is_empty() {
            self.problem = "lost".to_string();
        }
        self.state = DONE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_all(stream: &[u8], cut: usize, is_request: bool, methods: &[&str]) -> HttpFramer {
        let mut queue: VecDeque<String> = methods.iter().map(|m| m.to_string()).collect();
        let mut f = HttpFramer::new(is_request);
        for piece in stream.chunks(cut.max(1)) {
            f.feed(piece, &mut queue);
        }
        f
    }

    #[test]
    fn content_length_and_chunked_and_head() {
        let body = [b'x'; 50];
        let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n".to_vec();
        resp.extend_from_slice(&body);
        resp.extend_from_slice(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x1_0\r\n0123456789abcdef\r\n0\r\n\r\n",
        );
        resp.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n");
        for cut in [1, 3, 7, 1000] {
            let f = frame_all(&resp, cut, false, &["GET", "GET", "HEAD"]);
            assert_eq!((f.messages, f.problem.as_str()), (3, ""), "cut {cut}");
        }
    }

    #[test]
    fn python_hex_as_int_base_16() {
        for (text, want) in [
            (&b"1a"[..], Some(26)),
            (b"0x1A", Some(26)),
            (b"+f", Some(15)),
            (b"-1", Some(-1)),
            (b"1_0", Some(16)),
            (b"0x_1", Some(1)),
            (b"_1", None),
            (b"1__0", None),
            (b"1_", None),
            (b"", None),
            (b"0x", None),
            (b"g", None),
        ] {
            assert_eq!(python_hex(text), want, "{:?}", std::str::from_utf8(text));
        }
    }

    #[test]
    fn not_http_and_too_long() {
        let f = frame_all(b"SSH-2.0-OpenSSH\r\n", 100, false, &[]);
        assert_eq!(
            f.problem,
            "invalid: the answer is not an HTTP/1.x status line"
        );
        let mut long = b"GET / HTTP/1.1\r\n".to_vec();
        long.resize(70_000, b'a');
        let f = frame_all(&long, 1000, true, &[]);
        assert_eq!(f.problem, "invalid: a message head over 65536 bytes");
    }

    #[test]
    fn tls_records() {
        let mut t = TlsFramer::default();
        let mut data = vec![22, 3, 1, 0, 2, 1, 2, 23, 3, 3, 0, 1, 9];
        data.extend([23, 3, 3, 0, 0]);
        assert_eq!(t.feed(&data, 7, 70), 0);
        assert_eq!(t.app_count, 2);
        assert_eq!(t.app_records[0], (7, 70, 1));
        assert_eq!(t.feed(&[1, 3, 3], 8, 80), 0);
        assert_eq!(t.feed(&[0, 0], 8, 80), 0);
        assert_eq!(t.problem, "invalid: not a TLS record");
    }

    const ALPHABET: &[u8] = b"HTTP/1.1 20 \r\n:;0xa_-chunkedContent-Length";

    #[test]
    fn a_head_read_where_it_lies_frames_as_one_gathered() {
        // whole segments take `whole_head`; byte by byte, every head is gathered first
        let mut noise = crate::noise::Noise::new(0x0bad_cafe);
        let firsts: [&[u8]; 5] = [
            b"HTTP/1.1 200 OK",
            b"HTTP/1.0 304 x",
            b"HTTP/1.1 20x",
            b"HTXP/1.1 200 OK",
            b"GET / HTTP/1.1",
        ];
        let fields: [&[u8]; 5] = [
            b"Content-Length: 5",
            b"Transfer-Encoding: chunked",
            b"content-length: 0",
            b"X: y",
            b"Content-Length: 9999",
        ];
        let mut whole_heads = 0;
        for _ in 0..3000 {
            let mut data = Vec::new();
            for _ in 0..1 + noise.next() % 3 {
                data.extend_from_slice(firsts[(noise.next() % 5) as usize]);
                for _ in 0..noise.next() % 3 {
                    data.extend_from_slice(b"\r\n");
                    data.extend_from_slice(fields[(noise.next() % 5) as usize]);
                }
                data.extend_from_slice(b"\r\n\r\n");
                let body = (noise.next() % 12) as usize;
                data.extend(noise.bytes(body, ALPHABET));
            }
            for is_request in [false, true] {
                let methods = ["GET", "HEAD", "GET"];
                let whole = frame_all(&data, data.len(), is_request, &methods);
                for cut in [1, 7] {
                    let pieces = frame_all(&data, cut, is_request, &methods);
                    assert_eq!(whole.exchange_part(), pieces.exchange_part(), "{data:?}");
                    assert_eq!(
                        (whole.messages, whole.state),
                        (pieces.messages, pieces.state)
                    );
                }
                whole_heads += usize::from(whole.messages > 0);
            }
        }
        assert!(
            whole_heads > 1000,
            "only {whole_heads} streams framed a message"
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut noise = crate::noise::Noise::new(0x1234_5678_9abc_def0);
        for len in 0..300usize {
            let data = noise.bytes(len, ALPHABET);
            for cut in [1, 5, 64] {
                frame_all(&data, cut, len % 2 == 0, &["GET", "HEAD"]);
                let mut t = TlsFramer::default();
                for piece in data.chunks(cut) {
                    t.feed(piece, 1, 1);
                    t.skipped(3);
                }
            }
        }
    }
}
