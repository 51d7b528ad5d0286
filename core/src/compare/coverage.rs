//! Capture coverage (coverage.py, rule for rule): when each capture ran, on the edge's
//! clock, and how long a packet takes between them. Judge asks it before a verdict
//! rests on the absence of a packet: was the other capture running when that packet
//! was due? A capture with no recorded end is taken to have run as long as the other,
//! unless the pair shows it had stopped (the other holds packets of paired connections,
//! or of the same host's fingerprint, it should have seen later).
//!
//! When each capture ran by its own file and sidecar (`recorded_window`) stays in
//! Python: it is settled once per capture, from the summary and the sidecar.

use super::{HashMap, HashSet};

use super::matching::delay_samples;
use super::text::{duration, endpoint};
use crate::decode::Addr;
use crate::track::Record;

/// A packet may take longer than any delay the paired handshakes measured.
pub const DELAY_MARGIN_NS: i128 = 200_000_000;
/// The one-way bound when no pair measured one.
pub const UNMEASURED_DELAY_NS: i128 = 1_000_000_000;

type Span = (i128, i128);

/// The time one capture covered, on the edge's clock, and how that is known.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub start_ns: Option<i128>,
    pub end_ns: Option<i128>,
    pub start_source: String,
    pub end_source: String,
    pub last_packet_ns: Option<i128>,
    pub assumed_end: bool,
    pub holes: Vec<Span>, // spans no file holds (a ring's missing file)
}

impl Window {
    /// Was the capture running through all of [start, end]?
    pub fn covers(&self, start_ns: i128, end_ns: i128) -> bool {
        matches!((self.start_ns, self.end_ns), (Some(s), Some(e)) if s <= start_ns && end_ns <= e)
            && self.hole_in(start_ns, end_ns).is_none()
    }

    /// The first hole that overlaps [start, end].
    pub fn hole_in(&self, start_ns: i128, end_ns: i128) -> Option<Span> {
        self.holes
            .iter()
            .copied()
            .find(|&(a, b)| a < end_ns && start_ns < b)
    }

    /// Does covering up to END rest on the assumed end?
    pub fn assumed_for(&self, end_ns: i128) -> bool {
        self.assumed_end && self.last_packet_ns.map_or(true, |last| end_ns > last)
    }
}

/// Upper bounds on the one-way delay each way, from paired handshakes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delays {
    pub forward_ns: i128,
    pub reverse_ns: i128,
    pub measured_pairs: usize,
}

/// What judge needs to know of the two captures' time.
#[derive(Clone, Debug, PartialEq)]
pub struct Coverage {
    pub edge: Window,
    pub origin: Option<Window>, // None: the edge capture judged alone
    pub delays: Delays,
    pub round_trip_ns: i128,
    pub offset_ns: i128,
}

/// What a capture's own file and metadata say about when it ran (its own clock).
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub start_ns: Option<i128>,
    pub end_ns: Option<i128>, // None: no recorded end
    pub start_source: String,
    pub end_source: String,
    pub last_packet_ns: Option<i128>,
    pub holes: Vec<Span>,
}

impl Recorded {
    fn shifted(&self, delta_ns: i128) -> Recorded {
        let moved = |t: Option<i128>| t.map(|t| t + delta_ns);
        Recorded {
            start_ns: moved(self.start_ns),
            end_ns: moved(self.end_ns),
            last_packet_ns: moved(self.last_packet_ns),
            holes: self
                .holes
                .iter()
                .map(|&(a, b)| (a + delta_ns, b + delta_ns))
                .collect(),
            ..self.clone()
        }
    }
}

/// (TTL as captured, TCP option layout) of a SYN-ACK or SYN: a host's fingerprint.
type Fingerprint = (u8, String);

fn fingerprint(c: &Record, server: bool) -> Option<Fingerprint> {
    let (refs, options) = if server {
        (&c.synacks, &c.synack_options)
    } else {
        (&c.syns, &c.syn_options)
    };
    let first = refs.first()?;
    Some((
        first.ttl,
        options.as_ref().map_or(String::new(), |o| o.layout.clone()),
    ))
}

/// The latest time a host sent something, and on which connection (its endpoints).
#[derive(Clone, Debug, Default)]
struct Latest {
    sent_ns: Option<i128>,
    conn: Option<((Addr, u16), (Addr, u16))>,
}

impl Latest {
    fn offer(&mut self, sent_ns: Option<i128>, c: &Record) {
        if let Some(t) = sent_ns {
            if self.sent_ns.map_or(true, |latest| t > latest) {
                self.sent_ns = Some(t);
                self.conn = Some((c.client, c.server));
            }
        }
    }
}

/// Fingerprints in the order first seen (stop_evidence names the first that shows it).
#[derive(Default)]
struct ByPrint {
    slots: HashMap<Fingerprint, usize>,
    latest: Vec<(Fingerprint, Latest)>,
}

impl ByPrint {
    fn offer(&mut self, print: Fingerprint, sent_ns: Option<i128>, c: &Record) {
        let at = match self.slots.get(&print) {
            Some(&at) => at,
            None => {
                self.slots.insert(print.clone(), self.latest.len());
                self.latest.push((print, Latest::default()));
                self.latest.len() - 1
            }
        };
        self.latest[at].1.offer(sent_ns, c);
    }
}

/// What coverage needs from the records and trusted pairs, gathered one record at a
/// time (a streamed compare holds no list of them).
#[derive(Default)]
pub struct CoverageFacts {
    forward: Vec<i128>, // raw, the offset still in them: min and max kept
    reverse: Vec<i128>,
    forward_samples: usize,
    reverse_samples: usize,
    rtt_ns: Option<i128>,
    edge_sent_paired: Latest,
    origin_sent_paired: Latest,
    origin_prints: HashSet<Fingerprint>, // SYN-ACKs of paired, at the edge
    edge_prints: HashSet<Fingerprint>,   // SYNs of paired, at the origin
    server_by_print: ByPrint,            // edge records, by SYN-ACK print
    client_by_print: ByPrint,            // origin records, by SYN print
}

impl CoverageFacts {
    pub fn add_edge(&mut self, c: &Record) {
        if let (Some(syn), Some(synack)) = (c.syns.first(), c.synacks.first()) {
            if syn.ts_ns <= synack.ts_ns {
                let synack = synack.ts_ns;
                let sent = c
                    .syns
                    .iter()
                    .map(|s| s.ts_ns)
                    .filter(|&t| t <= synack)
                    .max();
                let rtt = synack - sent.unwrap_or(synack);
                self.rtt_ns = Some(self.rtt_ns.map_or(rtt, |r| r.max(rtt)));
            }
        }
        if let Some(print) = fingerprint(c, true) {
            self.server_by_print
                .offer(print, c.server_sent.last_ts_ns, c);
        }
    }

    pub fn add_origin(&mut self, c: &Record) {
        if let Some(print) = fingerprint(c, false) {
            self.client_by_print
                .offer(print, c.client_sent.last_ts_ns, c);
        }
    }

    /// A pair that is not weak: its delays and its hosts' fingerprints count.
    pub fn add_trusted(&mut self, e: &Record, o: &Record) {
        let (forward, reverse) = delay_samples([(e, o)]);
        self.forward_samples += forward.len();
        self.reverse_samples += reverse.len();
        self.forward.extend(forward);
        self.reverse.extend(reverse);
        extremes(&mut self.forward);
        extremes(&mut self.reverse);
        self.edge_sent_paired.offer(e.client_sent.last_ts_ns, e);
        self.origin_sent_paired.offer(o.server_sent.last_ts_ns, o);
        if let Some(print) = fingerprint(e, true) {
            self.origin_prints.insert(print);
        }
        if let Some(print) = fingerprint(o, false) {
            self.edge_prints.insert(print);
        }
    }

    /// The largest one-way delay each way on the trusted pairs' handshakes, plus the
    /// margin; UNMEASURED_DELAY_NS where no pair shows one.
    pub fn delays(&self, offset_ns: i128) -> Delays {
        let bound = |samples: &[i128], shift: i128| {
            samples
                .iter()
                .map(|d| d + shift)
                .max()
                .map_or(UNMEASURED_DELAY_NS, |d| d.max(0) + DELAY_MARGIN_NS)
        };
        Delays {
            forward_ns: bound(&self.forward, -offset_ns),
            reverse_ns: bound(&self.reverse, offset_ns),
            measured_pairs: self.forward_samples.max(self.reverse_samples),
        }
    }

    /// The largest SYN -> SYN-ACK time at the edge, plus a margin each way.
    pub fn round_trip_bound(&self) -> i128 {
        self.rtt_ns
            .map_or(2 * UNMEASURED_DELAY_NS, |rtt| rtt + 2 * DELAY_MARGIN_NS)
    }
}

/// [min, max] once there are more than two (coverage.py's `_extremes`).
fn extremes(values: &mut Vec<i128>) {
    if values.len() > 2 {
        let (lo, hi) = (values.iter().min().copied(), values.iter().max().copied());
        values.clear();
        values.extend(lo.into_iter().chain(hi));
    }
}

/// Why a capture without a recorded end had stopped at its last packet (edge clock),
/// or "": the other capture holds packets of a paired connection, or of the same host's
/// handshakes, sent after it (plus `slack_ns` for the offset's uncertainty).
pub fn stop_evidence(
    last_packet_ns: i128,
    facts: &CoverageFacts,
    stopped_is_origin: bool,
    offset_ns: i128,
    slack_ns: i128,
) -> String {
    let shift = if stopped_is_origin { 0 } else { offset_ns };
    let deadline = last_packet_ns + slack_ns;
    let paired = if stopped_is_origin {
        &facts.edge_sent_paired
    } else {
        &facts.origin_sent_paired
    };
    if let (Some(sent), Some((client, server))) = (paired.sent_ns, &paired.conn) {
        if sent - shift > deadline {
            let (who, stopped) = if stopped_is_origin {
                ("the edge", "origin")
            } else {
                ("the origin", "edge")
            };
            return format!(
                "{who} still sent packets on connection {} -> {} {} after the {stopped} \
                 capture's last packet",
                endpoint(client),
                endpoint(server),
                duration(sent - shift - last_packet_ns)
            );
        }
    }
    let (prints, by_print) = if stopped_is_origin {
        (&facts.origin_prints, &facts.server_by_print)
    } else {
        (&facts.edge_prints, &facts.client_by_print)
    };
    for (print, latest) in &by_print.latest {
        let (Some(sent), Some((client, server))) = (latest.sent_ns, &latest.conn) else {
            continue;
        };
        if prints.contains(print) && sent - shift > deadline {
            let who = if stopped_is_origin { "origin" } else { "edge" };
            let layout = if print.1.is_empty() { "-" } else { &print.1 };
            return format!(
                "the {who} (TTL {}, TCP options {layout}, as on the paired connections) still \
                 sent packets {} after the {who} capture's last packet, on connection {} -> {}",
                print.0,
                duration(sent - shift - last_packet_ns),
                endpoint(client),
                endpoint(server)
            );
        }
    }
    String::new()
}

/// Both windows on the edge's clock, each end recorded, shown stopped, or assumed.
pub fn build_coverage(
    edge: &Recorded,
    origin: Option<&Recorded>,
    facts: &CoverageFacts,
    offset_ns: i128,
    offset_spread_ns: i128,
) -> Coverage {
    let slack_ns = offset_spread_ns + DELAY_MARGIN_NS;
    let delays = facts.delays(offset_ns);
    let round_trip_ns = facts.round_trip_bound();
    let Some(origin) = origin else {
        return Coverage {
            edge: settle(edge, None, "", 0),
            origin: None,
            delays,
            round_trip_ns,
            offset_ns: 0,
        };
    };
    let origin = origin.shifted(-offset_ns);
    let stopped = |own: &Recorded, is_origin: bool| match (own.end_ns, own.last_packet_ns) {
        (None, Some(last)) => stop_evidence(last, facts, is_origin, offset_ns, slack_ns),
        _ => String::new(), // its end is recorded, or it holds nothing
    };
    let edge_stop = stopped(edge, false);
    let origin_stop = stopped(&origin, true);
    Coverage {
        edge: settle(edge, Some(&origin), &edge_stop, delays.reverse_ns),
        origin: Some(settle(&origin, Some(edge), &origin_stop, delays.forward_ns)),
        delays,
        round_trip_ns,
        offset_ns,
    }
}

/// A capture's end: recorded; its last packet when the pair shows it had stopped (or
/// there is no other capture); else assumed: it ran as long as the other, and saw
/// what the other's end sent its way (`delay_ns` later).
fn settle(own: &Recorded, other: Option<&Recorded>, stopped: &str, delay_ns: i128) -> Window {
    let window = |end_ns, end_source: String, assumed_end| Window {
        start_ns: own.start_ns,
        end_ns,
        start_source: own.start_source.clone(),
        end_source,
        last_packet_ns: own.last_packet_ns,
        assumed_end,
        holes: own.holes.clone(),
    };
    if own.end_ns.is_some() {
        return window(own.end_ns, own.end_source.clone(), false);
    }
    let Some(other) = other.filter(|_| stopped.is_empty()) else {
        let source = if stopped.is_empty() {
            "last packet".to_string()
        } else {
            format!("last packet (it had stopped: {stopped})")
        };
        return window(own.last_packet_ns, source, false);
    };
    let other_end = other.end_ns.or(other.last_packet_ns);
    let end = [
        own.last_packet_ns,
        other_end,
        other_end.map(|t| t + delay_ns),
    ]
    .into_iter()
    .flatten()
    .max();
    let assumed = end.is_some_and(|end| own.last_packet_ns.map_or(true, |last| end > last));
    let mut settled = window(
        end,
        if assumed {
            "assumed (no recorded end; as long as the other capture)".to_string()
        } else {
            "last packet".to_string()
        },
        assumed,
    );
    if own.start_ns.is_none() {
        settled.start_source = "assumed".to_string();
        // nothing recorded at all: assumed to have run throughout
        settled.start_ns = other.start_ns;
    }
    settled
}
