//! One verdict of `compare --json` (schema pcapdiff/compare/1), written byte for byte
//! as render/compare_json.py's `verdict_to_json` through orjson writes it: the text the
//! CLI streams, with no Python object per verdict.

use super::evidence::{Cite, Side};
use super::judge::Verdict;
use super::stream::Pair;
use super::text::write_endpoint;
use crate::conns_json::{k, list, string, Object};
use crate::track::Record;

impl Cite {
    /// A frame as `cite` names it, as JSON: N, or "FILE#N" among several files.
    fn write_json(&self, out: &mut String, frame: i64) {
        if self.files.is_empty() {
            out.push_str(itoa::Buffer::new().format(frame));
        } else {
            string(out, &self.cite(frame));
        }
    }
}

/// One capture's side of the pair (`_side`), or null; with its key packets (what the
/// report's ladder draws) when asked.
fn side(out: &mut String, c: Option<&Record>, cite: &Cite, with_packets: bool) -> Option<()> {
    let Some(c) = c else {
        out.push_str("null");
        return Some(());
    };
    let mut o = Object::new(out);
    // an endpoint's text is digits, dots, hex, colons and brackets: nothing to escape
    for (key, ep) in [(k!("client"), &c.client), (k!("server"), &c.server)] {
        let out = o.key(key);
        out.push('"');
        write_endpoint(out, ep);
        out.push('"');
    }
    cite.write_json(o.key(k!("first_frame")), c.first_frame);
    o.text(k!("conn_state"), c.conn_state);
    o.text(k!("history"), &c.history);
    if with_packets {
        let rows = key_packets(c);
        list(o.key(k!("packets")), &rows, |out, r| {
            let mut p = Object::new(out);
            p.text(k!("packet"), r.packet);
            p.text(k!("sender"), r.sender);
            cite.write_json(p.key(k!("frame")), r.frame);
            p.time(k!("time"), r.ts_ns)?;
            p.opt_int(k!("ttl"), r.ttl);
            p.opt_int(k!("ip_id"), r.ip_id.filter(|id| *id >= 0));
            p.text(k!("what"), &r.what);
            p.end();
            Some(())
        })?;
    }
    o.end();
    Some(())
}

/// A packet of a connection the ladder diagram draws (`_key_packets`).
struct KeyPacket {
    packet: &'static str, // SYN, SYN-ACK, ACK, request, response, RST, FIN, alert
    sender: &'static str, // client, server
    frame: i64,
    ts_ns: Option<i128>,
    ttl: Option<u8>,
    ip_id: Option<i32>,
    what: String,
}

/// The words of a label that are there, joined by spaces ("GET /a", "ClientHello").
fn words(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

/// SYNs, SYN-ACKs, the handshake's ACK, the first request and response, RSTs, each
/// side's first FIN and TLS alerts, in frame order (the order listed for one frame).
fn key_packets(c: &Record) -> Vec<KeyPacket> {
    let mut rows = Vec::new();
    let handshake = |packet, sender, p: &crate::track::PacketRef| KeyPacket {
        packet,
        sender,
        frame: p.frame,
        ts_ns: Some(p.ts_ns),
        ttl: Some(p.ttl),
        ip_id: Some(p.ip_id),
        what: String::new(),
    };
    rows.extend(c.syns.iter().map(|p| handshake("SYN", "client", p)));
    rows.extend(c.synacks.iter().map(|p| handshake("SYN-ACK", "server", p)));
    if let Some(frame) = c.handshake_frame {
        rows.push(KeyPacket {
            packet: "ACK",
            sender: "client",
            frame,
            ts_ns: None,
            ttl: None,
            ip_id: None,
            what: String::new(),
        });
    }
    if let Some(m) = &c.request {
        let (kind, method, target, _, host, _) = &m.fields;
        let what = match *kind {
            "http" => words(&[method, target]),
            "tls" => words(&["ClientHello", host]),
            _ => "data".to_string(),
        };
        rows.push(KeyPacket {
            packet: "request",
            sender: "client",
            frame: m.frame,
            ts_ns: Some(m.ts_ns),
            ttl: None,
            ip_id: None,
            what,
        });
    }
    if let Some(m) = &c.response {
        let (kind, status, reason, tls_version, alert, _) = &m.fields;
        let what = match *kind {
            "http" => words(&[itoa::Buffer::new().format(*status), reason]),
            "tls" if !alert.is_empty() => words(&["alert", alert]),
            "tls" => words(&["ServerHello", tls_version]),
            _ => "data".to_string(),
        };
        rows.push(KeyPacket {
            packet: "response",
            sender: "server",
            frame: m.frame,
            ts_ns: Some(m.ts_ns),
            ttl: None,
            ip_id: None,
            what,
        });
    }
    rows.extend(c.resets.iter().map(|r| KeyPacket {
        packet: "RST",
        sender: r.sender,
        frame: r.frame,
        ts_ns: Some(r.ts_ns),
        ttl: Some(r.ttl),
        ip_id: Some(r.ip_id),
        what: String::new(),
    }));
    for (sender, sent) in [("client", &c.client_sent), ("server", &c.server_sent)] {
        if let Some(&frame) = sent.fin_frames.first() {
            rows.push(KeyPacket {
                packet: "FIN",
                sender,
                frame,
                ts_ns: sent.fin_ts_ns,
                ttl: None,
                ip_id: None,
                what: String::new(),
            });
        }
    }
    rows.extend(c.tls_alerts.iter().map(|a| KeyPacket {
        packet: "alert",
        sender: a.sender,
        frame: a.frame,
        ts_ns: Some(a.ts_ns),
        ttl: None,
        ip_id: None,
        what: a.alert.clone(),
    }));
    rows.sort_by_key(|r| r.frame); // stable: one frame's rows keep the order above
    rows
}

fn opt_text(out: &mut String, text: &str) {
    if text.is_empty() {
        out.push_str("null");
    } else {
        string(out, text);
    }
}

/// The verdict numbered N appended to `out` (its sides' key packets when not ok, or
/// with `all_packets`); false (and `out` as it was) when a value
/// is beyond what the core writes exactly: the caller writes that one in Python.
pub fn verdict_into(
    out: &mut String,
    n: usize,
    pair: &Pair,
    v: &Verdict,
    cites: [&Cite; 2], // edge, origin
    cdn_status: Option<i64>,
    all_packets: bool,
) -> bool {
    let start = out.len();
    if write_verdict(out, n, pair, v, cites, cdn_status, all_packets).is_none() {
        out.truncate(start);
        return false;
    }
    true
}

fn write_verdict(
    out: &mut String,
    n: usize,
    pair: &Pair,
    v: &Verdict,
    cites: [&Cite; 2],
    cdn_status: Option<i64>,
    all_packets: bool,
) -> Option<()> {
    let e = &pair.edge;
    let with_packets = all_packets || v.outcome != "ok";
    let mut o = Object::new(out);
    o.int(k!("id"), n);
    side(o.key(k!("edge")), Some(e), cites[0], with_packets)?;
    side(
        o.key(k!("origin")),
        pair.origin.as_deref(),
        cites[1],
        with_packets,
    )?;
    opt_text(o.key(k!("matched_by")), &pair.matched_by);
    opt_text(o.key(k!("pairing")), pair.confidence.as_str());
    o.text(k!("outcome"), &v.outcome);
    o.opt_int(k!("cdn_status"), cdn_status);
    o.text(k!("culprit"), &v.culprit);
    o.text(k!("reason"), v.reason);
    let request = o.key(k!("request"));
    match e.request.as_ref().map(|r| &r.fields) {
        Some(("http", method, target, _, host, _)) => {
            let mut r = Object::new(request);
            r.text(k!("method"), method);
            r.text(k!("host"), host);
            r.text(k!("path"), target);
            r.end();
        }
        Some(("tls", _, _, _, host, _)) => {
            let mut r = Object::new(request);
            r.text(k!("method"), "TLS");
            r.text(k!("host"), host);
            r.text(k!("path"), "");
            r.end();
        }
        _ => request.push_str("null"),
    }
    list(o.key(k!("evidence")), &v.evidence, |out, ev| {
        let mut item = Object::new(out);
        item.text(k!("capture"), ev.capture.as_str());
        let cite = match ev.capture {
            Side::Edge => cites[0],
            Side::Origin => cites[1],
        };
        match ev.frame {
            Some(frame) => cite.write_json(item.key(k!("frame")), frame),
            None => item.key(k!("frame")).push_str("null"),
        }
        item.time(k!("time"), ev.ts_ns)?;
        item.text(k!("what"), &ev.what);
        match ev.due {
            None => item.key(k!("due")).push_str("null"),
            Some((from, until)) => {
                let mut due = Object::new(item.key(k!("due")));
                due.time(k!("from"), Some(from))?;
                due.time(k!("until"), Some(until))?;
                due.end();
            }
        }
        item.end();
        Some(())
    })?;
    o.text(k!("explanation"), &v.explanation);
    list(o.key(k!("assumes")), &v.assumes, |out, a| {
        string(out, a);
        Some(())
    })?;
    list(o.key(k!("hints")), &v.hints, |out, h| {
        string(out, h);
        Some(())
    })?;
    o.end();
    Some(())
}
