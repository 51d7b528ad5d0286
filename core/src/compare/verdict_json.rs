//! One verdict of `compare --json` (schema pcapdiff/compare/1), written byte for byte
//! as render/compare_json.py's `verdict_to_json` through orjson writes it: the text the
//! CLI streams, with no Python object per verdict.

use std::collections::HashMap;

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

/// Consecutive verdicts' `compare --json` text, joined as the document joins them.
#[derive(Default)]
pub struct VerdictRun {
    pub text: String,
    pub count: usize,
    pub outcomes: Vec<(String, usize)>,
    pub assumed: usize,
}

/// A run's text is cut at about this size: room for it is taken at once (growing a
/// run of a capture's end to 16 MB copied it over and over, into fresh pages), and
/// the text in Python and here is at most about this much again.
const RUN_BYTES: usize = 1 << 20;
/// Room past RUN_BYTES for the verdict that crosses it (else its run grew to 2 MB).
const RUN_SLACK: usize = 64 << 10;
/// About what a verdict's text takes (the real edge pair's: 1.3 KB).
const VERDICT_BYTES: usize = 1536;

impl VerdictRun {
    /// A run with room for the text of this many verdicts (up to RUN_BYTES' worth).
    fn for_up_to(verdicts: usize) -> VerdictRun {
        let room = verdicts
            .saturating_mul(VERDICT_BYTES)
            .min(RUN_BYTES + RUN_SLACK);
        VerdictRun {
            text: String::with_capacity(room),
            ..VerdictRun::default()
        }
    }

    fn add(
        &mut self,
        n: usize,
        pair: &Pair,
        v: &Verdict,
        cites: [&Cite; 2],
        cdn: Option<i64>,
        all_packets: bool,
    ) -> bool {
        let before = self.text.len();
        if self.count > 0 {
            self.text.push_str(crate::conns_json::RECORD_SEPARATOR);
        }
        if !verdict_into(&mut self.text, n, pair, v, cites, cdn, all_packets) {
            self.text.truncate(before);
            return false;
        }
        self.count += 1;
        self.assumed += usize::from(!v.assumes.is_empty());
        match self.outcomes.iter_mut().find(|(o, _)| *o == v.outcome) {
            Some((_, k)) => *k += 1,
            None => self.outcomes.push((v.outcome.clone(), 1)),
        }
        true
    }
}

/// What `take_json` hands on, in order: a run of text, or a verdict the core does not
/// write exactly.
pub enum Taken {
    Run(VerdictRun),
    Verdict(Box<(Pair, Verdict)>),
}

/// Verdicts one thread writes at least, where several share a batch: below that a
/// thread's start costs more than it saves.
pub const VERDICTS_PER_THREAD: usize = 2048;

/// `write_runs`, the batch cut in consecutive parts written on threads of their own
/// where it is big: the verdicts of a capture's end (a third of the real edge pair's,
/// all final at once) are written while nothing else runs, on one core of several.
/// The same runs' texts in the same order, a run cut where the parts meet.
/// `per_thread`: verdicts a thread writes at least.
pub fn write_runs_parallel(
    mut verdicts: Vec<(Pair, Verdict)>,
    first: usize,
    cdn_status: &HashMap<String, Option<i64>>,
    cites: [&Cite; 2],
    all_packets: bool,
    per_thread: usize,
) -> Vec<Taken> {
    let parts = crate::parallel::parts_for(verdicts.len(), per_thread);
    let size = verdicts.len().div_ceil(parts);
    let mut cut = Vec::with_capacity(parts);
    while verdicts.len() > size {
        let at = verdicts.len() - size;
        cut.push((first + at, verdicts.split_off(at)));
    }
    cut.push((first, verdicts));
    cut.reverse(); // in order: each part's numbers follow the one before
    let written = crate::parallel::in_parts(cut, |(from, part)| {
        write_runs(part, from, cdn_status, cites, all_packets)
    });
    written.into_iter().flatten().collect()
}

/// The verdicts, numbered from `first`, as runs of their text (no Python object: run
/// with the GIL released).
fn write_runs(
    verdicts: Vec<(Pair, Verdict)>,
    first: usize,
    cdn_status: &HashMap<String, Option<i64>>,
    cites: [&Cite; 2],
    all_packets: bool,
) -> Vec<Taken> {
    let mut out = Vec::new();
    let count = verdicts.len();
    let mut run = VerdictRun::for_up_to(count);
    for (i, (pair, v)) in verdicts.into_iter().enumerate() {
        if run.text.len() >= RUN_BYTES {
            out.push(Taken::Run(std::mem::replace(
                &mut run,
                VerdictRun::for_up_to(count - i),
            )));
        }
        let cdn = cdn_status.get(&v.outcome).copied().flatten();
        if !run.add(first + i, &pair, &v, cites, cdn, all_packets) {
            if run.count > 0 {
                out.push(Taken::Run(std::mem::take(&mut run)));
            }
            out.push(Taken::Verdict(Box::new((pair, v))));
        }
    }
    if run.count > 0 {
        out.push(Taken::Run(run));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::matching::tests::record;
    use crate::compare::matching::Confidence;
    use crate::conns_json::RECORD_SEPARATOR;

    fn verdicts(n: usize) -> Vec<(Pair, Verdict)> {
        (0..n)
            .map(|i| {
                let port = 1000 + (i % 60000) as u16;
                let edge = Box::new(record(port, Some(i as u32), i as i128, &format!("/{i}")));
                let pair = Pair {
                    origin: (i % 2 == 0).then(|| edge.clone()),
                    edge,
                    score: 1.0,
                    matched_by: "same client ISN".into(),
                    confidence: Confidence::Certain,
                };
                let verdict = Verdict {
                    outcome: ["ok", "no_response", "rst_after_request"][i % 3].into(),
                    culprit: "none".into(),
                    evidence: Vec::new(),
                    explanation: format!("verdict {i}"),
                    hints: Vec::new(),
                    reason: "answered",
                    assumes: if i % 7 == 0 {
                        vec!["x".into()]
                    } else {
                        Vec::new()
                    },
                };
                (pair, verdict)
            })
            .collect()
    }

    /// The runs' texts joined as the document joins them, their counts and assumptions.
    fn joined(runs: &[Taken]) -> (String, usize, usize) {
        let mut text = String::new();
        let (mut count, mut assumed) = (0, 0);
        for taken in runs {
            let Taken::Run(run) = taken else {
                panic!("every verdict here is one the core writes");
            };
            if count > 0 {
                text.push_str(RECORD_SEPARATOR);
            }
            text.push_str(&run.text);
            count += run.count;
            assumed += run.assumed;
        }
        (text, count, assumed)
    }

    #[test]
    fn verdicts_written_on_several_threads_read_as_written_on_one() {
        let (cdn, cites) = (HashMap::new(), [&Cite::default(), &Cite::default()]);
        let alone = joined(&write_runs(verdicts(301), 5, &cdn, cites, false));
        assert_eq!((alone.1, alone.2), (301, 43));
        assert!(alone.0.starts_with("{\"id\":5,") && alone.0.contains("{\"id\":305,"));
        for per_thread in [1, 7, 150, 151] {
            let runs = write_runs_parallel(verdicts(301), 5, &cdn, cites, false, per_thread);
            assert_eq!(joined(&runs), alone, "{per_thread} a thread");
        }
    }

    #[test]
    fn a_run_is_cut_at_about_a_megabyte() {
        let (cdn, cites) = (HashMap::new(), [&Cite::default(), &Cite::default()]);
        let many = verdicts(3000);
        let one = {
            let mut text = String::new();
            assert!(verdict_into(
                &mut text, 1, &many[0].0, &many[0].1, cites, None, false
            ));
            text.len()
        };
        let runs = write_runs(many, 1, &cdn, cites, false);
        assert!(runs.len() >= 3, "{} runs", runs.len());
        for taken in &runs {
            let Taken::Run(run) = taken else { panic!() };
            assert!(run.text.len() < RUN_BYTES + 2 * one, "{}", run.text.len());
        }
        assert_eq!(joined(&runs).1, 3000);
    }
}
