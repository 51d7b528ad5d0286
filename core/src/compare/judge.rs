//! Stage 5, judge (judge.py, rule for rule): a case (a pair and the captures'
//! coverage) -> a verdict. `RULES` are tried in precedence order and the first that
//! answers wins; every verdict cites the packets that decide it, from both captures
//! where there are two (an absence is cited too, with when the packet was due), and
//! its sentence comes from the catalogue (explain.py's REASONS, handed to the core:
//! the wording stays in one place).
//!
//! No verdict rests on the absence of a packet a capture could not have seen: such a
//! case is inconclusive and says why; one that rests on a capture's assumed end says
//! so in `assumes`.

use std::borrow::Cow;

use super::HashMap;

use super::coverage::{Coverage, Window, DELAY_MARGIN_NS};
use super::evidence::{
    self, alert, before, client_resets, icmp, progress, request, response, rst, server_resets, syn,
    Cite, Evidence, Side,
};
use super::matching::Confidence;
use super::text::{address, duration, py_repr};
use crate::decode::IcmpError;
use crate::track::{ExchangeRec, Record};

const MAX_ICMP_CITED: usize = 3; // per capture: the first few say where

/// One entry of the catalogue: the outcome and culprit a reason stands for, and its
/// sentence with `{fact}` places.
#[derive(Clone, Debug)]
pub struct ReasonSpec {
    pub outcome: String,
    pub culprit: String,
    pub text: String,
}

/// explain.py's REASONS.
#[derive(Clone, Debug, Default)]
pub struct Catalogue {
    pub reasons: HashMap<String, ReasonSpec>,
}

impl Catalogue {
    fn spec(&self, reason: &str) -> Cow<'_, ReasonSpec> {
        match self.reasons.get(reason) {
            Some(spec) => Cow::Borrowed(spec), // its sentence not copied for each verdict
            None => Cow::Owned(ReasonSpec {
                outcome: "inconclusive".into(),
                culprit: "unknown".into(),
                text: format!("(no sentence for {reason})"),
            }),
        }
    }
}

/// The sentence with its facts in place (`str.format_map`: `{{` and `}}` are braces).
fn fill(template: &str, facts: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(at) = memchr::memchr2(b'{', b'}', rest.as_bytes()) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        match (tail.starts_with('{'), tail.find('}')) {
            (true, Some(end)) => {
                let name = &tail[1..end];
                // the last of a name wins, as in {"port": ..., **facts}
                match facts.iter().rev().find(|(n, _)| *n == name) {
                    Some((_, value)) => out.push_str(value),
                    None => out.push_str(&tail[..=end]),
                }
                rest = &tail[end + 1..];
            }
            _ => {
                out.push_str(&tail[..1]);
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

type Facts = Vec<(&'static str, String)>;

/// Would a capture have seen a packet due in [due_from, due_until] (edge clock)?
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub covered: bool,
    pub capture: Side,
    pub what: &'static str,
    pub due_from_ns: i128,
    pub due_until_ns: i128,
    pub assumption: String, // non-empty: covered only if the capture ran past its last packet
}

/// The judgement of one pair (`model.Verdict` without its pair).
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub outcome: String,
    pub culprit: String,
    pub evidence: Vec<Evidence>,
    pub explanation: String,
    pub hints: Vec<String>,
    pub reason: &'static str,
    pub assumes: Vec<String>,
}

/// One edge attempt, its origin twin, and when each capture ran.
pub struct Case<'a> {
    pub edge: &'a Record,
    pub origin: Option<&'a Record>,
    pub matched_by: String,
    pub confidence: Confidence,
    pub coverage: &'a Coverage,
    pub clock_known: bool,  // false: no pair estimated the offset, assumed zero
    pub checks: Vec<Check>, // the coverage a verdict rests on
    pub edge_icmp: Vec<&'a IcmpError>,
    pub origin_icmp: Vec<&'a IcmpError>,
    pub edge_cite: &'a Cite,
    pub catalogue: &'a Catalogue,
}

static NO_WINDOW: Window = Window {
    start_ns: None,
    end_ns: None,
    start_source: String::new(),
    end_source: String::new(),
    last_packet_ns: None,
    assumed_end: false,
    holes: Vec::new(),
};

use Side::{Edge as EDGE, Origin as ORIGIN};

impl Case<'_> {
    fn have_origin(&self) -> bool {
        self.coverage.origin.is_some()
    }

    fn window(&self, side: Side) -> &Window {
        match side {
            EDGE => &self.coverage.edge,
            ORIGIN => self.coverage.origin.as_ref().unwrap_or(&NO_WINDOW),
        }
    }

    fn to_origin_clock(&self, edge_ns: i128) -> i128 {
        edge_ns + self.coverage.offset_ns
    }

    fn to_edge_clock(&self, origin_ns: i128) -> i128 {
        origin_ns - self.coverage.offset_ns
    }

    // --- coverage: could the other capture have seen it? -----------------------------

    fn check(&mut self, side: Side, what: &'static str, from: i128, until: i128) -> Check {
        let window = self.window(side);
        let covered = window.covers(from, until);
        let mut assumption = String::new();
        if covered && window.assumed_for(until) {
            let (own, other) = match side {
                EDGE => ("edge", "origin"),
                ORIGIN => ("origin", "edge"),
            };
            assumption = format!(
                "that the {own} capture, which recorded no end, was still running when {what} \
                 was due: it is taken to have run as long as the {other} capture \
                 (--{own}-window START,END says when it ran)"
            );
        }
        let check = Check {
            covered,
            capture: side,
            what,
            due_from_ns: from,
            due_until_ns: until,
            assumption,
        };
        self.checks.push(check.clone());
        check
    }

    /// Would the origin capture hold a packet the edge sent at this time?
    fn origin_sees(&mut self, sent_at_edge_ns: i128, what: &'static str) -> Check {
        let until = sent_at_edge_ns + self.coverage.delays.forward_ns;
        self.check(ORIGIN, what, sent_at_edge_ns, until)
    }

    /// Would the origin capture show the origin sending what reached the edge then?
    /// Not before the edge's SYN: nothing answers a connection before it.
    fn origin_saw_sending(&mut self, arrived_at_edge_ns: i128, what: &'static str) -> Check {
        let syn_at = self.edge.syns.first().map_or(i128::MIN, |s| s.ts_ns);
        let earliest = (arrived_at_edge_ns - self.coverage.delays.reverse_ns).max(syn_at);
        self.check(
            ORIGIN,
            what,
            earliest.min(arrived_at_edge_ns),
            arrived_at_edge_ns,
        )
    }

    fn origin_ran(&mut self, from: i128, until: i128, what: &'static str) -> Check {
        self.check(ORIGIN, what, from, until)
    }

    /// Would the edge capture hold a packet the origin sent at this (origin) time?
    fn edge_sees(&mut self, sent_at_origin_ns: i128, what: &'static str) -> Check {
        let sent = self.to_edge_clock(sent_at_origin_ns);
        let until = sent + self.coverage.delays.reverse_ns;
        self.check(EDGE, what, sent, until)
    }

    fn edge_ran(&mut self, from: i128, until: i128, what: &'static str) -> Check {
        self.check(EDGE, what, from, until)
    }

    // --- verdicts ----------------------------------------------------------------------

    fn verdict(&mut self, reason: &'static str, evidence: Vec<Evidence>, facts: Facts) -> Verdict {
        let spec = self.catalogue.spec(reason);
        let mut assumes: Vec<String> = Vec::new();
        for c in &self.checks {
            if !c.assumption.is_empty() && !assumes.contains(&c.assumption) {
                assumes.push(c.assumption.clone());
            }
        }
        if !self.clock_known && self.have_origin() && !self.checks.is_empty() {
            assumes.push(
                "that the two hosts' clocks agree: no pair of connections could estimate the \
                 offset (--clock-offset sets it)"
                    .into(),
            );
        }
        let mut all_facts: Vec<(&str, String)> = vec![("port", self.edge.server.1.to_string())];
        all_facts.extend(facts.iter().map(|(n, v)| (*n, v.clone())));
        let mut text = fill(&spec.text, &all_facts);
        if !assumes.is_empty() {
            text.push_str(" Assumes ");
            text.push_str(&assumes.join("; and "));
            text.push('.');
        }
        let mut evidence = evidence;
        let cited: Vec<(Side, Option<i64>)> =
            evidence.iter().map(|e| (e.capture, e.frame)).collect();
        for (side, errors) in [(EDGE, &self.edge_icmp), (ORIGIN, &self.origin_icmp)] {
            // alike: by (sender, kind, MTU), in the order first seen
            let mut alike: Vec<Vec<&IcmpError>> = Vec::new();
            for err in errors.iter().copied() {
                let same = |group: &&mut Vec<&IcmpError>| {
                    let first = group[0];
                    (first.sender, first.kind, first.mtu) == (err.sender, err.kind, err.mtu)
                };
                match alike.iter_mut().find(same) {
                    Some(group) => group.push(err),
                    None => alike.push(vec![err]),
                }
            }
            for same in alike.iter().take(MAX_ICMP_CITED) {
                if !cited.contains(&(side, Some(same[0].frame))) {
                    evidence.push(icmp(same[0], side, same.len()));
                }
            }
        }
        let mut hints = evidence::injection_hints(self.edge, self.edge_cite);
        for (line, hint) in [
            rewritten_request(self.edge, self.origin),
            rewritten_response(self.edge, self.origin),
        ]
        .into_iter()
        .flatten()
        {
            evidence.push(line);
            hints.push(hint);
        }
        Verdict {
            outcome: spec.outcome.clone(),
            culprit: spec.culprit.clone(),
            evidence,
            explanation: text,
            hints,
            reason,
            assumes,
        }
    }

    /// Inconclusive: the deciding packet fell outside what a capture saw.
    fn not_covered(&mut self, check: &Check, evidence: Vec<Evidence>) -> Verdict {
        let (from, until) = (check.due_from_ns, check.due_until_ns);
        let w = self.window(check.capture);
        let hole = w.hole_in(from, until);
        let reason = match (hole, check.capture) {
            (Some(_), EDGE) => "edge_file_missing",
            (Some(_), ORIGIN) => "origin_file_missing",
            (None, EDGE) => "edge_capture_ended",
            (None, ORIGIN) if w.start_ns.map_or(true, |s| s > from) => "origin_not_running",
            (None, ORIGIN) => "origin_capture_ended",
        };
        let when = match (hole, w.start_ns, w.end_ns) {
            (Some((a, b)), _, _) => {
                format!(
                    "no file of the capture holds the {} around then",
                    duration(b - a)
                )
            }
            (None, None, _) | (None, _, None) => {
                "the capture holds nothing that says when it ran".to_string()
            }
            (None, Some(start), _) if start > from => {
                format!("the capture started {} too late", duration(start - from))
            }
            (None, _, Some(end)) if end < from => {
                format!("the capture had ended {} before", duration(from - end))
            }
            (None, _, Some(end)) => format!("the capture ended {} too soon", duration(until - end)),
        };
        let due = match check.capture {
            ORIGIN => (self.to_origin_clock(from), self.to_origin_clock(until)),
            EDGE => (from, until),
        };
        let mut evidence = evidence;
        evidence.push(Evidence {
            capture: check.capture,
            frame: None,
            ts_ns: None,
            what: format!("{} was due here: not covered", check.what),
            due: Some(due),
        });
        self.checks.clear(); // an inconclusive verdict assumes nothing
        let facts = vec![("what", check.what.to_string()), ("when", when)];
        self.verdict(reason, evidence, facts)
    }

    /// The cited absence of a packet, with when it was due (that capture's clock).
    fn absent(&self, check: &Check, what: &str) -> Evidence {
        let (from, until) = (check.due_from_ns, check.due_until_ns);
        let due = match check.capture {
            ORIGIN => (self.to_origin_clock(from), self.to_origin_clock(until)),
            EDGE => (from, until),
        };
        Evidence {
            capture: check.capture,
            frame: None,
            ts_ns: None,
            what: what.to_string(),
            due: Some(due),
        }
    }
}

// --- what the records say -------------------------------------------------------------

fn kind_of(c: &Record) -> Option<&'static str> {
    c.request.as_ref().map(|r| r.fields.0)
}

fn is_tls(c: &Record) -> bool {
    kind_of(c) == Some("tls")
}

/// Its messages' framing is known (HTTP/1.x or TLS records, no hole in them).
fn framed(c: &Record) -> Option<&ExchangeRec> {
    c.exchange.as_ref().filter(|x| x.problem.is_empty())
}

/// The client sent a request: HTTP bytes, or TLS application data after the handshake.
fn asked(c: &Record) -> bool {
    match framed(c) {
        Some(x) if is_tls(c) => x.requests > 0,
        _ => c.client_sent.payload_bytes > 0,
    }
}

/// The server answered: HTTP bytes, or TLS application data (tickets excepted).
fn got_answer(c: &Record) -> bool {
    match framed(c) {
        Some(x) if is_tls(c) => x.responses > 0,
        _ => c.server_sent.payload_bytes > 0,
    }
}

/// Every request got its whole answer (by its framing; without framing: any data).
fn fully_answered(c: &Record) -> bool {
    match framed(c) {
        Some(x) => x.responses >= x.requests && x.response_bytes == 0,
        None => got_answer(c),
    }
}

fn answer_ts(c: &Record) -> Option<i128> {
    if let (true, Some(t)) = (is_tls(c), c.exchange.as_ref().and_then(|x| x.answer_ts_ns)) {
        return Some(t);
    }
    match &c.response {
        Some(r) => Some(r.ts_ns),
        None => c.server_sent.last_ts_ns,
    }
}

/// `_answer_ts(e) or _request_ts(e)`: as in judge.py, an answer at time 0 counts as none.
fn answer_or_request_ts(c: &Record) -> i128 {
    answer_ts(c)
        .filter(|&t| t != 0)
        .unwrap_or_else(|| request_ts(c))
}

/// When the client's first data was captured (its request), else its handshake.
fn request_ts(c: &Record) -> i128 {
    if let Some(r) = &c.request {
        return r.ts_ns;
    }
    let refs = if c.synacks.is_empty() {
        &c.syns
    } else {
        &c.synacks
    };
    refs.last().map_or(c.first_ts_ns, |p| p.ts_ns)
}

/// When the client gave up: its first FIN or RST at or after `after_ns`.
fn gave_up(c: &Record, after_ns: i128) -> Option<i128> {
    let resets = client_resets(c).into_iter().map(|r| r.ts_ns);
    let fin = c.client_sent.fin_ts_ns;
    resets.chain(fin).filter(|&t| t >= after_ns).min()
}

fn closed(c: &Record) -> bool {
    !c.client_sent.fin_frames.is_empty()
        || !c.server_sent.fin_frames.is_empty()
        || !c.resets.is_empty()
}

/// Whether the request reached the origin, as a clause and its evidence.
fn request_fate(case: &mut Case<'_>) -> (&'static str, Vec<Evidence>) {
    if let Some(o) = case.origin.filter(|o| o.client_sent.payload_bytes > 0) {
        return (
            "the request did reach the origin",
            vec![request(o, ORIGIN, "origin received the request")],
        );
    }
    let check = case.origin_sees(request_ts(case.edge), "the request");
    if !check.covered {
        return (
            "whether the request reached the origin is not known: its capture did not run then",
            Vec::new(),
        );
    }
    let absent = case.absent(&check, "the request never reached the origin");
    ("the request never reached the origin", vec![absent])
}

// --- hints -----------------------------------------------------------------------------

fn http_request(c: &Record) -> Option<&crate::payload::RequestFields> {
    c.request
        .as_ref()
        .map(|r| &r.fields)
        .filter(|f| f.0 == "http")
}

/// The request the origin received is not the one the edge sent (method, Host or path
/// changed): a transparent proxy or load balancer in the path.
fn rewritten_request(edge: &Record, origin: Option<&Record>) -> Option<(Evidence, String)> {
    let o = origin?;
    let (sent, got) = (http_request(edge)?, http_request(o)?);
    let changed: Vec<String> = [
        ("method", &sent.1, &got.1),
        ("Host", &sent.4, &got.4),
        ("path", &sent.2, &got.2),
    ]
    .into_iter()
    .filter(|(_, a, b)| a != b)
    .map(|(name, a, b)| format!("{name} {} -> {}", py_repr(a), py_repr(b)))
    .collect();
    if changed.is_empty() {
        return None;
    }
    let changed = changed.join(", ");
    let r = o.request.as_ref()?;
    let what = format!(
        "origin received the request modified in transit ({changed}): {} {}{}",
        got.1, got.4, got.2
    );
    let hint = format!(
        "the request was rewritten between the edge and the origin ({changed}): a transparent \
         proxy or load balancer in the path; `pcapdiff flows EDGE ORIGIN` shows every header"
    );
    Some((
        Evidence::at(ORIGIN, Some(r.frame), Some(r.ts_ns), what),
        hint,
    ))
}

fn http_response(c: &Record) -> Option<&crate::track::Message<crate::payload::ResponseFields>> {
    c.response.as_ref().filter(|r| r.fields.0 == "http")
}

/// The answer the edge received is not the one the origin sent (its status line changed
/// on the way): a hijack that edits rather than replaces.
fn rewritten_response(edge: &Record, origin: Option<&Record>) -> Option<(Evidence, String)> {
    let (got, sent) = (http_response(edge)?, http_response(origin?)?);
    if (sent.fields.1, &sent.fields.2) == (got.fields.1, &got.fields.2) {
        return None;
    }
    let change = format!(
        "status {} {} -> {} {}",
        sent.fields.1,
        py_repr(&sent.fields.2),
        got.fields.1,
        py_repr(&got.fields.2)
    );
    let what = format!("edge received the response modified in transit ({change})");
    let hint = format!(
        "the response was rewritten between the origin and the edge ({change}): something in \
         the path edits the origin's answers; `pcapdiff flows EDGE ORIGIN` shows every header"
    );
    Some((
        Evidence::at(EDGE, Some(got.frame), Some(got.ts_ns), what),
        hint,
    ))
}

// --- the rules, in precedence order -----------------------------------------------------

type Rule = fn(&mut Case<'_>) -> Option<Verdict>;

/// An unpaired attempt the origin capture could not have seen: nothing to say.
fn origin_not_covering_syn(case: &mut Case<'_>) -> Option<Verdict> {
    if !case.have_origin() || case.origin.is_some() {
        return None;
    }
    let check = case.origin_sees(case.edge.syns.first()?.ts_ns, "the SYN");
    if check.covered {
        return None;
    }
    let ev = vec![syn(case.edge, EDGE, "edge sent SYN")];
    Some(case.not_covered(&check, ev))
}

fn handshake_failed(e: &Record) -> bool {
    if e.tls_alerts.iter().any(|a| a.alert.starts_with("fatal")) {
        return true;
    }
    let no_hello = match &e.response {
        Some(r) => r.fields.0 != "tls" || !r.fields.4.is_empty(),
        None => true,
    };
    no_hello && (!server_resets(e).is_empty() || !e.server_sent.fin_frames.is_empty())
}

/// The catalogue entry for an origin's alert ("fatal protocol_version", ...).
fn tls_alert_reason(alert: &str) -> &'static str {
    if alert.ends_with("protocol_version") {
        "tls_origin_protocol_version"
    } else if alert.ends_with("handshake_failure") || alert.ends_with("insufficient_security") {
        "tls_origin_no_common_parameters"
    } else if alert.ends_with("unrecognized_name") {
        "tls_origin_unrecognized_name"
    } else {
        "tls_origin_refused"
    }
}

/// 525: the ClientHello was sent and the handshake ended without a ServerHello, or
/// with a fatal alert (RSTs after an alert are its consequence).
fn tls_failed(case: &mut Case<'_>) -> Option<Verdict> {
    let (e, o) = (case.edge, case.origin);
    if !is_tls(e) || !handshake_failed(e) {
        return None;
    }
    let mut ev = vec![request(e, EDGE, "edge sent ClientHello")];
    ev.extend(e.tls_alerts.iter().map(|a| alert(a, EDGE, a.sender)));
    ev.extend(
        server_resets(e)
            .into_iter()
            .take(1)
            .map(|r| rst(r, EDGE, "RST from server")),
    );
    let fatal = e.tls_alerts.iter().find(|a| a.alert.starts_with("fatal"));
    let edge_refused = fatal.is_some_and(|a| a.sender == "client");
    let facts = vec![("alert", fatal.map_or(String::new(), |a| a.alert.clone()))];
    if !case.have_origin() {
        let reason = if edge_refused {
            "edge_only_tls_edge_refused_certificate"
        } else {
            "edge_only_tls_failed"
        };
        return Some(case.verdict(reason, ev, facts));
    }
    let Some(o) = o.filter(|o| is_tls(o)) else {
        let check = case.origin_sees(request_ts(e), "the ClientHello");
        if !check.covered {
            return Some(case.not_covered(&check, ev));
        }
        ev.push(case.absent(&check, "no ClientHello in the origin capture"));
        return Some(case.verdict("tls_path_intercepted", ev, Vec::new()));
    };
    ev.push(request(o, ORIGIN, "origin received ClientHello"));
    let origin_alerts: Vec<_> = o
        .tls_alerts
        .iter()
        .filter(|a| a.sender == "server")
        .collect();
    ev.extend(origin_alerts.iter().map(|a| alert(a, ORIGIN, "origin")));
    if edge_refused && origin_alerts.is_empty() {
        // the origin sent its ServerHello and certificate, and the edge refused them:
        // the origin's TLS set-up is at fault, not the path
        if o.response.as_ref().is_some_and(|r| r.fields.0 == "tls") {
            ev.push(response(o, ORIGIN, "origin sent its {response}"));
        }
        return Some(case.verdict("tls_edge_refused_certificate", ev, facts));
    }
    if let Some(first) = origin_alerts.first() {
        let version = &e.request.as_ref()?.fields.3;
        let offered = if version.is_empty() {
            "an unknown version".to_string()
        } else {
            version.clone()
        };
        let facts = vec![("alert", first.alert.clone()), ("offered", offered)];
        return Some(case.verdict(tls_alert_reason(&first.alert), ev, facts));
    }
    if !server_resets(o).is_empty() || !o.server_sent.fin_frames.is_empty() {
        ev.extend(
            server_resets(o)
                .into_iter()
                .take(1)
                .map(|r| rst(r, ORIGIN, "origin sent RST")),
        );
        return Some(case.verdict("tls_origin_closed", ev, Vec::new()));
    }
    let failed_at = e
        .tls_alerts
        .iter()
        .map(|a| a.ts_ns)
        .chain(server_resets(e).into_iter().map(|r| r.ts_ns))
        .chain([request_ts(e)])
        .max()?;
    let check = case.origin_saw_sending(failed_at, "the origin's end of the handshake");
    if !check.covered {
        return Some(case.not_covered(&check, ev));
    }
    Some(case.verdict("tls_path_ended", ev, Vec::new()))
}

/// 521: the SYN was answered with a RST.
fn rst_answers_syn(case: &mut Case<'_>) -> Option<Verdict> {
    let (e, o) = (case.edge, case.origin);
    let edge_rsts = server_resets(e);
    if !e.synacks.is_empty() || edge_rsts.is_empty() {
        return None;
    }
    let mut ev = vec![
        syn(e, EDGE, "edge sent SYN"),
        rst(edge_rsts[0], EDGE, "RST answered the SYN"),
    ];
    if !case.have_origin() {
        return Some(case.verdict("edge_only_refused", ev, Vec::new()));
    }
    if let Some(first) = o.and_then(|o| server_resets(o).into_iter().next()) {
        ev.push(rst(first, ORIGIN, "origin sent the RST"));
        return Some(case.verdict("origin_refused", ev, Vec::new()));
    }
    let Some(o) = o else {
        let check = case.origin_sees(e.syns.first()?.ts_ns, "the SYN");
        ev.push(case.absent(&check, "the SYN never reached the origin"));
        return Some(case.verdict("path_rejected", ev, Vec::new()));
    };
    let check = case.origin_saw_sending(edge_rsts[0].ts_ns, "the origin's RST");
    if !check.covered {
        return Some(case.not_covered(&check, ev));
    }
    ev.push(syn(o, ORIGIN, "origin saw the SYN but sent no RST"));
    Some(case.verdict("path_rejected", ev, Vec::new()))
}

/// 522: no answer to the SYN (the edge alone: no_synack).
fn no_synack(case: &mut Case<'_>) -> Option<Verdict> {
    let (e, o) = (case.edge, case.origin);
    if !e.synacks.is_empty() || !server_resets(e).is_empty() {
        return None;
    }
    let mut ev = vec![syn(e, EDGE, "edge sent SYN, no answer")];
    let refusal = case
        .edge_icmp
        .iter()
        .copied()
        .find(|err| (err.src, err.sport) == e.client && Some(err.seq) == e.client_isn);
    if let Some(refusal) = refusal {
        // an ICMP error about the SYN says where it ended
        ev.push(icmp(refusal, EDGE, 1));
        let facts = vec![
            ("router", address(&refusal.sender)),
            ("kind", refusal.kind.to_string()),
        ];
        if refusal.sender != e.server.0 {
            return Some(case.verdict("syn_unreachable", ev, facts));
        }
        if !case.have_origin() {
            return Some(case.verdict("edge_only_refused", ev, Vec::new()));
        }
        if let Some(o) = o {
            ev.push(syn(o, ORIGIN, "origin received the SYN"));
            return Some(case.verdict("origin_refused_by_icmp", ev, facts));
        }
        return Some(case.verdict("path_rejected", ev, Vec::new()));
    }
    let first = e.syns.first()?.ts_ns;
    let due = case.edge_ran(
        first,
        first + case.coverage.round_trip_ns,
        "an answer to the SYN",
    );
    if !due.covered {
        return Some(case.not_covered(&due, ev));
    }
    if !case.have_origin() {
        return Some(case.verdict("edge_only_no_synack", ev, Vec::new()));
    }
    let Some(o) = o else {
        let check = case.origin_sees(first, "the SYN");
        ev.push(case.absent(&check, "no SYN from this connection at the origin"));
        return Some(case.verdict("syn_dropped_in_path", ev, Vec::new()));
    };
    ev.push(syn(o, ORIGIN, "origin received the SYN"));
    if let Some(synack) = o.synacks.first() {
        let check = case.edge_sees(synack.ts_ns, "the origin's SYN-ACK");
        if !check.covered {
            return Some(case.not_covered(&check, ev));
        }
        let sent = "origin sent SYN-ACK".to_string();
        ev.push(Evidence::at(
            ORIGIN,
            Some(synack.frame),
            Some(synack.ts_ns),
            sent,
        ));
        ev.push(case.absent(&check, "the SYN-ACK never reached the edge"));
        return Some(case.verdict("synack_lost", ev, Vec::new()));
    }
    if let Some(&first_rst) = server_resets(o).first() {
        let check = case.edge_sees(first_rst.ts_ns, "the origin's RST");
        if !check.covered {
            return Some(case.not_covered(&check, ev));
        }
        ev.push(rst(first_rst, ORIGIN, "origin sent RST"));
        ev.push(case.absent(&check, "the RST never reached the edge"));
        return Some(case.verdict("refusal_lost", ev, Vec::new()));
    }
    // A listening kernel answers a SYN at once: the capture must have run a little past
    // the first SYN it saw.
    let first_syn = case.to_edge_clock(o.syns.first()?.ts_ns);
    let check = case.origin_ran(
        first_syn,
        first_syn + DELAY_MARGIN_NS,
        "the origin's SYN-ACK",
    );
    if !check.covered {
        return Some(case.not_covered(&check, ev));
    }
    ev.push(case.absent(&check, "origin sent no SYN-ACK"));
    Some(case.verdict("syn_not_answered", ev, Vec::new()))
}

/// 521: the handshake completed, then a server RST before any request.
fn reset_before_request(case: &mut Case<'_>) -> Option<Verdict> {
    let (e, o) = (case.edge, case.origin);
    let rsts = server_resets(e);
    if asked(e) || rsts.is_empty() {
        return None;
    }
    let mut ev = vec![
        syn(e, EDGE, "handshake completed"),
        rst(rsts[0], EDGE, "RST from server before any request"),
    ];
    if !case.have_origin() {
        return Some(case.verdict("edge_only_reset_before_request", ev, Vec::new()));
    }
    if let Some(first) = o.and_then(|o| server_resets(o).into_iter().next()) {
        ev.push(rst(first, ORIGIN, "origin sent the RST"));
        return Some(case.verdict("origin_reset_before_request", ev, Vec::new()));
    }
    let check = case.origin_saw_sending(rsts[0].ts_ns, "the origin's RST");
    if !check.covered {
        return Some(case.not_covered(&check, ev));
    }
    ev.push(case.absent(&check, "origin sent no RST"));
    Some(case.verdict("path_reset_before_request", ev, Vec::new()))
}

fn no_request(case: &mut Case<'_>) -> Option<Verdict> {
    let e = case.edge;
    if asked(e) {
        return None;
    }
    let reason = if closed(e) {
        "no_request"
    } else {
        "idle_at_capture_end"
    };
    let ev = vec![syn(e, EDGE, "handshake completed")];
    Some(case.verdict(reason, ev, Vec::new()))
}

/// 520: a server RST after the request and before the response.
fn reset_before_response(case: &mut Case<'_>) -> Option<Verdict> {
    let (e, o) = (case.edge, case.origin);
    let rsts = server_resets(e);
    let first = *rsts.first()?;
    let x = e.exchange_at_rst.as_ref();
    match x.filter(|x| x.problem.is_empty()) {
        Some(x) => {
            if x.requests != 0 && x.responses >= x.requests {
                return None; // every request answered in full: the RST ends a done exchange
            }
        }
        None => {
            if let Some(r) = &e.response {
                if before((r.frame, Some(r.ts_ns)), (first.frame, Some(first.ts_ns))) {
                    return None; // no framing to go by: the answer had begun
                }
            }
        }
    }
    let progress_text = progress(x.filter(|x| x.problem.is_empty()));
    let mut ev = vec![
        request(e, EDGE, "edge sent the request"),
        rst(
            first,
            EDGE,
            &format!("RST from server after the request, {progress_text}"),
        ),
    ];
    if e.response.is_some() {
        ev.push(response(e, EDGE, "{response} came after the RST, too late"));
    }
    if let Some(synack) = e.synacks.first() {
        let what = format!(
            "the origin's SYN-ACK had TTL {}, IP ID {}; the RST TTL {}, IP ID {}",
            synack.ttl, synack.ip_id, first.ttl, first.ip_id
        );
        ev.push(Evidence::at(
            EDGE,
            Some(synack.frame),
            Some(synack.ts_ns),
            what,
        ));
    }
    let facts = vec![("progress", progress_text)];
    if !case.have_origin() {
        return Some(case.verdict("edge_only_reset_after_request", ev, facts));
    }
    if let Some(origin_rst) = o.and_then(|o| server_resets(o).into_iter().next()) {
        ev.push(rst(origin_rst, ORIGIN, "origin sent the RST"));
        return Some(case.verdict("origin_reset_after_request", ev, facts));
    }
    let check = case.origin_saw_sending(first.ts_ns, "the origin's RST");
    if !check.covered {
        return Some(case.not_covered(&check, ev));
    }
    let (fate, fate_ev) = request_fate(case);
    ev.extend(fate_ev);
    ev.push(case.absent(&check, "origin sent no RST"));
    if let Some(o) = o.filter(|o| o.response.is_some()) {
        ev.push(response(o, ORIGIN, "origin sent {response}"));
    }
    let facts = vec![("request_fate", fate.to_string())];
    Some(case.verdict("reset_injected_after_request", ev, facts))
}

/// ("invalid" or "truncated", what is wrong) with the server's answer, from its framing.
fn answer_problem(c: &Record) -> Option<(&'static str, String)> {
    let x = c.exchange.as_ref()?;
    if kind_of(c) != Some("http") || c.server_sent.payload_bytes == 0 {
        return None;
    }
    if x.problem.starts_with("invalid") {
        let what = x.problem.strip_prefix("invalid: ").unwrap_or(&x.problem);
        return Some(("invalid", what.to_string()));
    }
    if x.problem.is_empty()
        && x.response_bytes != 0
        && !c.server_sent.fin_frames.is_empty()
        && server_resets(c).is_empty()
    {
        let what = format!("cut short by the server's close, {}", progress(Some(x)));
        return Some(("truncated", what));
    }
    None
}

/// 520: an answer that is not HTTP on an HTTP pull, or one the server's close cut short.
fn invalid_response(case: &mut Case<'_>) -> Option<Verdict> {
    let (e, o) = (case.edge, case.origin);
    let (_, problem) = answer_problem(e)?;
    let mut ev = vec![
        request(e, EDGE, "edge sent the request"),
        response(e, EDGE, &format!("edge got {{response}}: {problem}")),
    ];
    let facts = vec![
        ("problem", problem.clone()),
        ("progress", progress(e.exchange.as_ref())),
    ];
    if !case.have_origin() {
        return Some(case.verdict("edge_only_invalid_response", ev, facts));
    }
    if let Some((kind, origin_problem)) = o.and_then(answer_problem) {
        let o = o?;
        ev.push(response(
            o,
            ORIGIN,
            &format!("origin sent {{response}}: {origin_problem}"),
        ));
        let reason = if kind == "truncated" {
            "origin_truncated_response"
        } else {
            "origin_invalid_response"
        };
        let facts = vec![
            ("problem", origin_problem),
            ("progress", progress(o.exchange.as_ref())),
        ];
        return Some(case.verdict(reason, ev, facts));
    }
    let at = answer_or_request_ts(e);
    let check = case.origin_saw_sending(at, "the origin's answer");
    if !check.covered {
        return Some(case.not_covered(&check, ev));
    }
    if let Some(o) = o.filter(|o| o.response.is_some()) {
        ev.push(response(o, ORIGIN, "origin sent {response}"));
    }
    Some(case.verdict("path_invalid_response", ev, facts))
}

/// An answer the edge got that the origin never sent (an HTTP hijack).
fn answer_not_from_origin(case: &mut Case<'_>) -> Option<Verdict> {
    let (e, o) = (case.edge, case.origin);
    if !case.have_origin() || !got_answer(e) || o.is_some_and(got_answer) {
        return None;
    }
    let answered_at = answer_or_request_ts(e);
    let mut ev = vec![
        request(e, EDGE, "edge sent the request"),
        response(e, EDGE, "edge got {response}"),
    ];
    let check = case.origin_saw_sending(answered_at, "the origin's answer");
    if !check.covered {
        return Some(case.not_covered(&check, ev));
    }
    let (fate, fate_ev) = request_fate(case);
    ev.extend(fate_ev);
    ev.push(case.absent(&check, "the origin sent no answer"));
    let facts = vec![("request_fate", fate.to_string())];
    Some(case.verdict("answer_not_from_origin", ev, facts))
}

/// A router told the origin its packets to the edge were too big: facts, or None.
fn too_big(case: &Case<'_>, o: &Record) -> Option<Facts> {
    case.origin_icmp
        .iter()
        .find(|err| err.mtu.is_some_and(|m| m != 0) && err.src == o.server.0)
        .map(|err| {
            vec![
                ("router", address(&err.sender)),
                ("mtu", err.mtu.unwrap_or(0).to_string()),
            ]
        })
}

/// The origin sent more of its answer than reached the edge (retransmissions aside).
fn sent_more(o: &Record, e: &Record) -> bool {
    let net = |c: &Record| {
        i128::from(c.server_sent.payload_bytes) - i128::from(c.server_sent.retransmitted_bytes)
    };
    net(o) > net(e)
}

fn edge_gave_up(e: &Record, at_ns: i128) -> Evidence {
    if let Some(r) = client_resets(e).into_iter().find(|r| r.ts_ns == at_ns) {
        return rst(r, EDGE, "the edge gave up: RST");
    }
    let frame = e.client_sent.fin_frames.first().copied();
    Evidence::at(EDGE, frame, Some(at_ns), "the edge gave up: FIN".into())
}

/// The response lost on its way back: blackholed when a router said it was too big.
fn lost_on_the_way_back(case: &mut Case<'_>, o: &Record, ev: Vec<Evidence>) -> Verdict {
    match too_big(case, o) {
        Some(facts) => case.verdict("response_blackholed", ev, facts),
        None => case.verdict("response_lost", ev, Vec::new()),
    }
}

/// 524: the request got no answer before the edge gave up (inside the capture).
fn no_answer(case: &mut Case<'_>) -> Option<Verdict> {
    let (e, o) = (case.edge, case.origin);
    if got_answer(e) {
        return None;
    }
    let asked_at = request_ts(e);
    let mut ev = vec![request(e, EDGE, "edge sent the request, no response came")];
    let Some(gave_up_at) = gave_up(e, asked_at) else {
        let gap = match case.coverage.edge.end_ns {
            Some(end) => duration(end - asked_at),
            None => "an unknown time".into(),
        };
        return Some(case.verdict("edge_still_waiting", ev, vec![("gap", gap)]));
    };
    ev.push(edge_gave_up(e, gave_up_at));
    let facts = vec![("gap", duration(gave_up_at - asked_at))];
    if !case.have_origin() {
        return Some(case.verdict("edge_only_no_response", ev, facts));
    }
    let Some(o) = o.filter(|o| asked(o)) else {
        let check = case.origin_sees(asked_at, "the request");
        if !check.covered {
            return Some(case.not_covered(&check, ev));
        }
        ev.push(case.absent(&check, "the request never reached the origin"));
        return Some(case.verdict("request_lost", ev, Vec::new()));
    };
    ev.push(request(o, ORIGIN, "origin received the request"));
    if client_resets(e).is_empty() {
        if let Some(injected) = client_resets(o).first() {
            ev.push(rst(
                injected,
                ORIGIN,
                "origin got a RST the edge never sent",
            ));
            return Some(case.verdict("reset_injected_toward_origin", ev, Vec::new()));
        }
    }
    if got_answer(o) {
        let sent = answer_ts(o)?;
        ev.push(response(o, ORIGIN, "origin sent {response}"));
        let sent_edge = case.to_edge_clock(sent);
        let delay = case.coverage.delays.reverse_ns;
        if sent_edge >= gave_up_at {
            let facts = vec![("gap", duration(sent_edge - gave_up_at))];
            return Some(case.verdict("origin_answered_late", ev, facts));
        }
        if gave_up_at < sent_edge + delay {
            let facts = vec![
                ("gap", duration(gave_up_at - sent_edge)),
                ("delay", duration(delay)),
            ];
            return Some(case.verdict("response_in_flight", ev, facts));
        }
        let check = case.edge_sees(sent, "the origin's response");
        if !check.covered {
            return Some(case.not_covered(&check, ev));
        }
        ev.push(case.absent(&check, "the response never reached the edge"));
        return Some(lost_on_the_way_back(case, o, ev));
    }
    let check = case.origin_ran(asked_at, gave_up_at, "the origin's response");
    if !check.covered {
        return Some(case.not_covered(&check, ev));
    }
    ev.push(case.absent(&check, "origin sent no response"));
    Some(case.verdict("origin_silent", ev, facts))
}

/// Part of the answer came and the rest never did: 524 when the edge gave up, else
/// the capture ended too early to say.
fn answer_incomplete(case: &mut Case<'_>) -> Option<Verdict> {
    let (e, o) = (case.edge, case.origin);
    if fully_answered(e) {
        return None;
    }
    let asked_at = request_ts(e);
    let progress_text = progress(e.exchange.as_ref());
    let mut ev = vec![
        request(e, EDGE, "edge sent the request"),
        response(e, EDGE, &format!("{{response}}, {progress_text}")),
    ];
    let Some(gave_up_at) = gave_up(e, asked_at) else {
        let facts = vec![("progress", progress_text)];
        return Some(case.verdict("edge_capture_ended_mid_response", ev, facts));
    };
    ev.push(edge_gave_up(e, gave_up_at));
    let facts = vec![
        ("progress", progress_text),
        ("gap", duration(gave_up_at - asked_at)),
    ];
    if !case.have_origin() {
        return Some(case.verdict("edge_only_no_response", ev, facts));
    }
    if let Some(o) = o.filter(|o| got_answer(o) && (fully_answered(o) || sent_more(o, e))) {
        let sent = o.server_sent.last_ts_ns?;
        let full = if fully_answered(o) {
            "in full"
        } else {
            "more of it than arrived"
        };
        ev.push(response(
            o,
            ORIGIN,
            &format!("origin sent {{response}}, {full}"),
        ));
        let check = case.edge_sees(sent, "the rest of the origin's answer");
        if !check.covered {
            return Some(case.not_covered(&check, ev));
        }
        ev.push(case.absent(&check, "the rest of the answer never reached the edge"));
        return Some(lost_on_the_way_back(case, o, ev));
    }
    let check = case.origin_ran(asked_at, gave_up_at, "the rest of the origin's answer");
    if !check.covered {
        return Some(case.not_covered(&check, ev));
    }
    if let Some(o) = o.filter(|o| o.response.is_some()) {
        let what = format!(
            "origin sent {{response}}, {}",
            progress(o.exchange.as_ref())
        );
        ev.push(response(o, ORIGIN, &what));
    }
    Some(case.verdict("origin_stalled", ev, facts))
}

fn answered(case: &mut Case<'_>) -> Option<Verdict> {
    let (e, o) = (case.edge, case.origin);
    let mut ev = vec![request(e, EDGE, "edge sent the request")];
    if e.response.is_some() {
        ev.push(response(e, EDGE, "{response}"));
    }
    if let Some(o) = o {
        ev.push(request(o, ORIGIN, "origin received the request"));
        if o.response.is_some() {
            ev.push(response(o, ORIGIN, "origin sent {response}"));
        }
    }
    let reason = if closed(e) {
        "answered"
    } else {
        "answered_still_open"
    };
    Some(case.verdict(reason, ev, Vec::new()))
}

pub const RULES: [Rule; 12] = [
    origin_not_covering_syn,
    tls_failed,
    rst_answers_syn,
    no_synack,
    reset_before_request,
    no_request,
    reset_before_response,
    answer_not_from_origin,
    invalid_response,
    no_answer,
    answer_incomplete,
    answered,
];

/// Decide what happened to one edge attempt, and whose fault it is.
pub fn judge(case: &mut Case<'_>) -> Verdict {
    let verdict = RULES
        .iter()
        .find_map(|rule| rule(case))
        .unwrap_or_else(|| case.verdict("answered", Vec::new(), Vec::new()));
    on_weak_pair(case, verdict)
}

/// A weak pair blames no one; an ok verdict on one says what it rests on.
fn on_weak_pair(case: &mut Case<'_>, verdict: Verdict) -> Verdict {
    if case.confidence != Confidence::Weak {
        return verdict;
    }
    if verdict.culprit == "origin" || verdict.culprit == "path" {
        case.checks.clear();
        let facts = vec![("matched_by", case.matched_by.clone())];
        return case.verdict("weak_pair", verdict.evidence, facts);
    }
    if verdict.outcome == "ok" {
        let note = format!(
            "that the pairing, which rests only on {}, is right",
            case.matched_by
        );
        let mut verdict = verdict;
        verdict.explanation.push_str(&format!(" Assumes {note}."));
        verdict.assumes.push(note);
        return verdict;
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_fill_their_places_and_braces_stay_braces() {
        let facts = [("port", "80".to_string()), ("gap", "2.0 s".to_string())];
        assert_eq!(fill("on {port}, {gap} later", &facts), "on 80, 2.0 s later");
        assert_eq!(fill("{{literal}} {port}", &facts), "{literal} 80");
        assert_eq!(fill("{unknown} stays", &facts), "{unknown} stays");
        assert_eq!(fill("no places", &facts), "no places");
    }

    #[test]
    fn the_alert_names_its_reason() {
        assert_eq!(
            tls_alert_reason("fatal protocol_version"),
            "tls_origin_protocol_version"
        );
        assert_eq!(
            tls_alert_reason("fatal insufficient_security"),
            "tls_origin_no_common_parameters"
        );
        assert_eq!(tls_alert_reason("fatal decode_error"), "tls_origin_refused");
    }
}
