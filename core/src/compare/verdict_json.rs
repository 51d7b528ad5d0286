//! One verdict of `compare --json` (schema pcapdiff/compare/1), written byte for byte
//! as render/compare_json.py's `verdict_to_json` through orjson writes it: the text the
//! CLI streams, with no Python object per verdict.

use super::evidence::{Cite, Side};
use super::judge::Verdict;
use super::stream::Pair;
use super::text::endpoint;
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

/// One capture's side of the pair (`_side`), or null.
fn side(out: &mut String, c: Option<&Record>, cite: &Cite) {
    let Some(c) = c else {
        out.push_str("null");
        return;
    };
    let mut o = Object::new(out);
    string(o.key(k!("client")), &endpoint(&c.client));
    string(o.key(k!("server")), &endpoint(&c.server));
    cite.write_json(o.key(k!("first_frame")), c.first_frame);
    o.text(k!("conn_state"), c.conn_state);
    o.text(k!("history"), &c.history);
    o.end();
}

fn opt_text(out: &mut String, text: &str) {
    if text.is_empty() {
        out.push_str("null");
    } else {
        string(out, text);
    }
}

/// The verdict numbered N appended to `out`; false (and `out` as it was) when a value
/// is beyond what the core writes exactly: the caller writes that one in Python.
pub fn verdict_into(
    out: &mut String,
    n: usize,
    pair: &Pair,
    v: &Verdict,
    cites: [&Cite; 2], // edge, origin
    cdn_status: Option<i64>,
) -> bool {
    let start = out.len();
    if write_verdict(out, n, pair, v, cites, cdn_status).is_none() {
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
) -> Option<()> {
    let e = &pair.edge;
    let mut o = Object::new(out);
    o.int(k!("id"), n);
    side(o.key(k!("edge")), Some(e), cites[0]);
    side(o.key(k!("origin")), pair.origin.as_deref(), cites[1]);
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
