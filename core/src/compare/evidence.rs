//! What a verdict cites (judge.py's evidence and hints, rule for rule): the packets
//! that decide it, each as a line of evidence in its capture, and the hints that RSTs
//! "from the server" were not the server's (Weaver, Sommer, Paxson, NDSS 2009).
//!
//! Not yet here: the hints that a request or response was rewritten on the way, which
//! quote the changed fields as Python's `repr` does (its escapes follow the Unicode
//! database's printable characters: a table of our own to come with the judge).

use super::text::address;
use crate::decode::IcmpError;
use crate::track::{AlertRec, ExchangeRec, Record, ResetRec};

/// A side read from several files numbers frame N of file i as i << FILE_BITS | N.
pub const FILE_BITS: u32 = 40;
const FRAME_MASK: i64 = (1 << FILE_BITS) - 1;
const TTL_SLACK: i32 = 2; // routes wobble by a hop or two; an injector is further off
pub const MAX_HINTS: usize = 8;
const MAX_FRAMES_NAMED: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Edge,
    Origin,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Edge => "edge",
            Side::Origin => "origin",
        }
    }
}

/// A packet (or an absence) that decides a verdict (`model.Evidence`).
#[derive(Clone, Debug, PartialEq)]
pub struct Evidence {
    pub capture: Side,
    pub frame: Option<i64>,
    pub ts_ns: Option<i128>, // that capture's clock
    pub what: String,
    pub due: Option<(i128, i128)>, // an absence: when the packet was due
}

impl Evidence {
    pub fn at(capture: Side, frame: Option<i64>, ts_ns: Option<i128>, what: String) -> Self {
        Evidence {
            capture,
            frame,
            ts_ns,
            what,
            due: None,
        }
    }
}

/// How a capture names its frames (`CaptureSummary.cite`): N in one file, "FILE#N"
/// among several.
#[derive(Clone, Debug, Default)]
pub struct Cite {
    pub files: Vec<String>,
}

impl Cite {
    pub fn cite(&self, frame: i64) -> String {
        if self.files.is_empty() {
            return frame.to_string();
        }
        let (index, number) = (frame >> FILE_BITS, frame & FRAME_MASK);
        let name = usize::try_from(index)
            .ok()
            .and_then(|i| self.files.get(i))
            .map_or("?", String::as_str);
        format!("{name}#{number}")
    }
}

/// The attempt's first SYN, with how many more were sent.
/// (A record without a SYN, which judge.py never cites so, is cited without a frame.)
pub fn syn(c: &Record, side: Side, what: &str) -> Evidence {
    let Some(s) = c.syns.first() else {
        return Evidence::at(side, None, None, what.to_string());
    };
    let sent = count(c, "syns", c.syns.len());
    let retries = if sent > 1 {
        format!(" (+{} retransmits)", sent - 1)
    } else {
        String::new()
    };
    Evidence::at(
        side,
        Some(s.frame),
        Some(s.ts_ns),
        format!("{what}{retries}"),
    )
}

/// How many of a list there were, left-out ones included (`Connection.count`).
fn count(c: &Record, name: &str, kept: usize) -> u64 {
    let left_out = c
        .omitted
        .iter()
        .rev() // dict(omitted): the last entry of a name wins
        .find(|(n, _)| *n == name)
        .map_or(0, |&(_, n)| n);
    kept as u64 + left_out
}

/// ": GET host/path", ": TLS ClientHello SNI host", or "".
pub fn request_text(c: &Record) -> String {
    let mut out = String::new();
    push_request_text(&mut out, c);
    out
}

/// `request_text`, appended to OUT (pieces pushed: `format!` was most of its cost).
fn push_request_text(out: &mut String, c: &Record) {
    match c.request.as_ref().map(|r| &r.fields) {
        Some(("http", method, target, _, host, _)) => {
            for piece in [": ", method, " ", host, target] {
                out.push_str(piece);
            }
        }
        Some(("tls", _, _, _, host, _)) => {
            out.push_str(": TLS ClientHello SNI ");
            out.push_str(if host.is_empty() { "-" } else { host });
        }
        _ => {}
    }
}

pub fn request(c: &Record, side: Side, what: &str) -> Evidence {
    let r = c.request.as_ref();
    Evidence::at(side, r.map(|r| r.frame), r.map(|r| r.ts_ns), {
        let mut text = String::with_capacity(what.len() + 64);
        text.push_str(what);
        push_request_text(&mut text, c);
        text
    })
}

/// `what` with "{response}" said as `describe` says the first answer.
pub fn response(c: &Record, side: Side, what: &str) -> Evidence {
    let r = c.response.as_ref();
    Evidence::at(
        side,
        r.map(|r| r.frame),
        r.map_or(c.server_sent.last_ts_ns, |r| Some(r.ts_ns)),
        with_response(what, c),
    )
}

/// WHAT with each "{response}" said as `describe` says the first answer.
fn with_response(what: &str, c: &Record) -> String {
    const SLOT: &str = "{response}";
    let mut out = String::with_capacity(what.len() + 32);
    let mut rest = what;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix(SLOT) {
            push_describe(&mut out, c);
            rest = after;
        } else {
            out.push('{');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

pub fn rst(r: &ResetRec, side: Side, what: &str) -> Evidence {
    Evidence::at(
        side,
        Some(r.frame),
        Some(r.ts_ns),
        format!("{what} (TTL {})", r.ttl),
    )
}

pub fn alert(a: &AlertRec, side: Side, who: &str) -> Evidence {
    Evidence::at(
        side,
        Some(a.frame),
        Some(a.ts_ns),
        format!("{who} sent TLS alert {}", a.alert),
    )
}

pub fn icmp(err: &IcmpError, side: Side, times: usize) -> Evidence {
    let mtu = match err.mtu {
        Some(mtu) if mtu != 0 => format!(" (MTU {mtu})"),
        _ => String::new(),
    };
    let again = if times > 1 {
        format!(", {times} times")
    } else {
        String::new()
    };
    Evidence::at(
        side,
        Some(err.frame),
        Some(err.ts_ns),
        format!(
            "ICMP {}{mtu} from {} about {}:{} -> {}:{}{again}",
            err.kind,
            address(&err.sender),
            address(&err.src),
            err.sport,
            address(&err.dst),
            err.dport
        ),
    )
}

/// The first answer: "response 200 OK", "ServerHello TLS 1.3", else "server data".
pub fn describe(c: &Record) -> String {
    let mut out = String::new();
    push_describe(&mut out, c);
    out
}

/// `describe`, appended to OUT: its pieces, the end's white space trimmed (the start is
/// a word).
fn push_describe(out: &mut String, c: &Record) {
    let start = out.len();
    match c.response.as_ref().map(|r| &r.fields) {
        Some(("http", status, reason, ..)) => {
            out.push_str("response ");
            out.push_str(itoa::Buffer::new().format(*status));
            out.push(' ');
            out.push_str(reason);
        }
        Some(("tls", _, _, version, ..)) => {
            out.push_str("ServerHello ");
            out.push_str(version);
        }
        _ => out.push_str("server data"),
    }
    let kept = out[start..].trim_end().len();
    out.truncate(start + kept);
}

/// How far the answer had come: "after 1,448 of 52,317 response bytes".
pub fn progress(x: Option<&ExchangeRec>) -> String {
    let Some(x) = x else {
        return "before the response".into();
    };
    if x.response_bytes != 0 {
        return match x.response_expected {
            Some(expected) if expected != 0 => format!(
                "after {} of {} response bytes",
                grouped(x.response_bytes),
                grouped(expected)
            ),
            _ => format!("after {} response bytes", grouped(x.response_bytes)),
        };
    }
    if x.responses == 0 {
        return "before any response".into();
    }
    format!(
        "before the response to request {} of {}",
        x.responses + 1,
        x.requests
    )
}

/// An integer with thousands separated by commas (Python's `{:,}`).
pub fn grouped(n: i128) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(d);
    }
    out
}

pub fn server_resets(c: &Record) -> Vec<&ResetRec> {
    c.resets.iter().filter(|r| r.sender == "server").collect()
}

pub fn client_resets(c: &Record) -> Vec<&ResetRec> {
    c.resets.iter().filter(|r| r.sender == "client").collect()
}

/// Was A captured before B? Frame order in one file; across files, the times.
pub fn before(a: (i64, Option<i128>), b: (i64, Option<i128>)) -> bool {
    match (a.1, b.1) {
        (Some(ta), Some(tb)) if a.0 >> FILE_BITS != b.0 >> FILE_BITS => ta < tb,
        _ => a.0 < b.0,
    }
}

/// 'RST frame 12', 'RSTs frames 12, 14, 16', 'RSTs frames 12, 14, .. (9 in all)'.
fn frames(resets: &[&ResetRec], cite: &Cite) -> String {
    if resets.len() == 1 {
        return format!("RST frame {}", cite.cite(resets[0].frame));
    }
    let named: Vec<String> = resets
        .iter()
        .take(MAX_FRAMES_NAMED)
        .map(|r| cite.cite(r.frame))
        .collect();
    let more = if resets.len() > MAX_FRAMES_NAMED {
        format!(", .. ({} in all)", resets.len())
    } else {
        String::new()
    };
    format!("RSTs frames {}{more}", named.join(", "))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mismatch {
    FarTtl(u8),
    NearTtl(u8),
    IpId,
}

/// RSTs "from the server" that do not look like the server's own packets: each
/// sentence once, at most MAX_HINTS.
pub fn injection_hints(c: &Record, cite: &Cite) -> Vec<String> {
    let mut hints: Vec<String> = Vec::new();
    let rsts = server_resets(c);
    if let (Some(synack), false) = (c.synacks.first(), rsts.is_empty()) {
        // one sentence per kind of mismatch, naming its frames, in the order first seen
        let mut alike: Vec<(Mismatch, Vec<&ResetRec>)> = Vec::new();
        for &r in &rsts {
            let kind = if (i32::from(r.ttl) - i32::from(synack.ttl)).abs() > TTL_SLACK {
                Some(Mismatch::FarTtl(r.ttl))
            } else if r.ttl != synack.ttl {
                Some(Mismatch::NearTtl(r.ttl))
            } else if r.ip_id > 0
                && synack.ip_id > 0
                && (r.ip_id - synack.ip_id).rem_euclid(65536) > 4096
            {
                Some(Mismatch::IpId)
            } else {
                None
            };
            if let Some(kind) = kind {
                match alike.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, group)) => group.push(r),
                    None => alike.push((kind, vec![r])),
                }
            }
        }
        for (kind, group) in &alike {
            let named = frames(group, cite);
            let has = if group.len() == 1 { "has" } else { "have" };
            let synack_frame = cite.cite(synack.frame);
            let hint = match kind {
                Mismatch::IpId => {
                    let ids: Vec<String> = group
                        .iter()
                        .take(MAX_FRAMES_NAMED)
                        .map(|r| r.ip_id.to_string())
                        .collect();
                    format!(
                        "{named} {has} IP ID {}, far from the SYN-ACK's {} (frame \
                         {synack_frame}): possibly injected",
                        ids.join(", "),
                        synack.ip_id
                    )
                }
                Mismatch::FarTtl(ttl) | Mismatch::NearTtl(ttl) => {
                    let why = if matches!(kind, Mismatch::FarTtl(_)) {
                        "likely injected by a device in the path"
                    } else {
                        "possibly sent by a device close to the server (or the route changed)"
                    };
                    format!(
                        "{named} {has} TTL {ttl}, the server's SYN-ACK frame {synack_frame} \
                         had {}: {why}",
                        synack.ttl
                    )
                }
            };
            hints.push(hint);
        }
    }
    if let (Some(first), Some(r)) = (rsts.first(), c.response.as_ref()) {
        if before((first.frame, Some(first.ts_ns)), (r.frame, Some(r.ts_ns))) {
            hints.push(format!(
                "the server's response (frame {}) came after its RST (frame {}): the RST was \
                 not the server's; likely injected, racing the real answer",
                cite.cite(r.frame),
                cite.cite(first.frame)
            ));
        }
    }
    for pair in rsts.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if b.ts_ns - a.ts_ns < 100_000_000 && a.seq != b.seq {
            hints.push(format!(
                "back-to-back RSTs (frames {}, {}) with jumping sequence numbers {} -> {}: a \
                 typical injector",
                cite.cite(a.frame),
                cite.cite(b.frame),
                a.seq,
                b.seq
            ));
            break;
        }
    }
    let mut unique: Vec<String> = Vec::new();
    for hint in hints {
        if !unique.contains(&hint) {
            unique.push(hint);
        }
    }
    unique.truncate(MAX_HINTS);
    unique
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::matching::tests::record;
    use crate::track::Message;

    #[test]
    fn what_is_said_of_the_request_and_the_answer() {
        let mut c = record(40_000, Some(1), 0, "/a?b");
        assert_eq!(request_text(&c), ": GET www.example.com/a?b");
        assert_eq!(
            request(&c, Side::Edge, "sent").what,
            "sent: GET www.example.com/a?b"
        );
        assert_eq!(describe(&c), "server data");
        let answer = |status, reason: &str| {
            let fields = (
                "http",
                status,
                reason.to_string(),
                "HTTP/1.1".into(),
                String::new(),
                String::new(),
            );
            Some(Message::from((4, 1, fields)))
        };
        c.response = answer(200, "OK");
        assert_eq!(describe(&c), "response 200 OK");
        // every slot filled, a brace that is not one kept, the text around them whole
        let said = response(&c, Side::Origin, "{x} {response}, then {response}{").what;
        assert_eq!(said, "{x} response 200 OK, then response 200 OK{");
        c.response = answer(502, "");
        assert_eq!(
            response(&c, Side::Edge, "[{response}]").what,
            "[response 502]"
        );
        c.response = answer(404, "Not Found\u{a0} ");
        assert_eq!(describe(&c), "response 404 Not Found"); // as str.strip() trims
        c.response = Some(Message::from((
            4,
            1,
            (
                "tls",
                0,
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ),
        )));
        assert_eq!(describe(&c), "ServerHello");
        c.request = Some(Message::from((
            3,
            0,
            (
                "tls",
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ),
        )));
        assert_eq!(request_text(&c), ": TLS ClientHello SNI -");
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1448), "1,448");
        assert_eq!(grouped(52_317_000), "52,317,000");
        assert_eq!(grouped(-1_000), "-1,000");
    }

    #[test]
    fn frames_of_several_files_are_cited_by_file() {
        let cite = Cite {
            files: vec!["ring.pcap0".into(), "ring.pcap1".into()],
        };
        assert_eq!(cite.cite((1 << FILE_BITS) | 17), "ring.pcap1#17");
        assert_eq!(cite.cite((5 << FILE_BITS) | 2), "?#2");
        assert_eq!(Cite::default().cite(17), "17");
    }
}
