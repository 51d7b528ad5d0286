//! Stage 4, match (match.py, rule for rule): edge records + origin records -> pairs,
//! the clock offset, and the origin records nothing paired with.
//!
//! Never pairs by 5-tuple alone, and never by time alone: a candidate needs an identity
//! feature (the same client ISN, SYN TSval, request, client port or 4-tuple); time,
//! after the clock offset, only ranks candidates. The offset comes from pairs certain
//! without looking at time. Ambiguity is resolved globally: every candidate pair, best
//! score first, each record used once. Records are named by their index in the slices
//! given.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::hash::Hash;

use super::numbers::{py_round, true_div};
use crate::decode::Addr;
use crate::track::{PacketRef, Record};

pub const NS: i128 = 1_000_000_000;
/// How far apart (after the offset) twin SYNs may be.
pub const WINDOW_NS: i128 = 30 * NS;
/// A pair that rests on the request alone is probable only when the offset is known
/// and the two SYNs are this close after it; otherwise it is weak.
pub const PROBABLE_REQUEST_DT_NS: i128 = NS;
/// Server ports that are origin pulls whatever their traffic shows.
pub const ORIGIN_PULL_PORTS: [u16; 2] = [80, 443];
/// An identity feature shared by more records than this is not an identity (a stack
/// that sends TSval 0, a 4-tuple reused all day).
pub const MAX_IDENTITY_POOL: usize = 64;
/// Candidates scored per edge record and feature, the nearest in time: the work is
/// bounded whatever the traffic (20,000 connections with one request).
pub const MAX_CANDIDATES: usize = 16;
/// Once the offset is known, the request ranks only twins this close (plus the
/// estimate's spread).
pub const REQUEST_WINDOW_NS: i128 = 2 * NS;
/// Pairs that must show one ISN delta before a firewall's rewrite counts as an identity.
pub const MIN_DELTA_PAIRS: usize = 3;

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// How sure a pairing is (`model.Pair.confidence`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confidence {
    Unmatched,
    Certain,
    Probable,
    Weak,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Unmatched => "",
            Confidence::Certain => "certain",
            Confidence::Probable => "probable",
            Confidence::Weak => "weak",
        }
    }
}

/// Origin clock minus edge clock (`model.ClockOffset`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClockOffset {
    pub seconds: f64,
    pub spread_s: f64,
    pub pairs_used: i64,
    pub source: &'static str, // "estimated", "estimated (one way only)", "given", "none"
}

impl ClockOffset {
    pub fn given(seconds: f64) -> ClockOffset {
        ClockOffset {
            seconds,
            spread_s: 0.0,
            pairs_used: 0,
            source: "given",
        }
    }

    pub fn none() -> ClockOffset {
        ClockOffset {
            seconds: 0.0,
            spread_s: 0.0,
            pairs_used: 0,
            source: "none",
        }
    }

    pub fn known(&self) -> bool {
        self.source != "none"
    }

    /// `round(seconds * NS)`, as the Python engine computes it.
    pub fn offset_ns(&self) -> i128 {
        py_round(self.seconds * NS as f64)
    }

    pub fn spread_ns(&self) -> i128 {
        py_round(self.spread_s * NS as f64)
    }
}

// What a pair's features agree on, in the order match.py lists them.
const SAME_TUPLE: u8 = 1;
const SAME_ISN: u8 = 2;
const SAME_TSVAL: u8 = 4;
const SAME_REQUEST: u8 = 8;
const SAME_LINE: u8 = 16; // the request line, the Host differing
const SAME_PORT: u8 = 32;
const SAME_OPTIONS: u8 = 64;
const IDENTITY: u8 = SAME_TUPLE | SAME_ISN | SAME_TSVAL | SAME_REQUEST | SAME_LINE;
const STRONG: u8 = SAME_TUPLE | SAME_ISN | SAME_TSVAL;

/// Why two records pair: the features they share (`Pair.matched_by`'s words).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reasons {
    bits: u8,
    isn_delta: u32, // the rewrite the same ISN rests on (0: none)
}

impl Reasons {
    /// One of the identity features: a shared client port and good timing are not.
    pub fn identity(&self) -> bool {
        self.bits & IDENTITY != 0
    }

    /// The 4-tuple, the client ISN or the SYN TSval.
    pub fn strong(&self) -> bool {
        self.bits & STRONG != 0
    }

    /// "same 4-tuple, same client ISN, ..." (`matched_by`).
    pub fn text(&self) -> String {
        let mut out = String::with_capacity(80); // the four usual reasons fit, grown once at most
        let mut say = |words: &str| {
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(words);
        };
        let has = |bit: u8| self.bits & bit != 0;
        if has(SAME_TUPLE) {
            say("same 4-tuple");
        }
        if has(SAME_ISN) {
            say("same client ISN");
            if self.isn_delta != 0 {
                let mut rewrite = String::new();
                let _ = write!(
                    rewrite,
                    "ISN rewritten by +{:#010x} in the path",
                    self.isn_delta
                );
                say(&rewrite);
            }
        }
        if has(SAME_TSVAL) {
            say("same SYN TSval");
        }
        if has(SAME_REQUEST) {
            say("same request");
        } else if has(SAME_LINE) {
            say("same request line");
            say("Host differs");
        }
        if has(SAME_PORT) {
            say("same client port");
        }
        if has(SAME_OPTIONS) {
            say("same SYN options");
        }
        out
    }
}

/// When the attempt started: its first SYN (or first packet).
pub fn syn_ts(c: &Record) -> i128 {
    c.syns.first().map_or(c.first_ts_ns, |s| s.ts_ns)
}

pub fn tsval(c: &Record) -> Option<u32> {
    c.syn_options.as_ref().and_then(|o| o.tsval)
}

/// The client's first message as an identity: HTTP request line and Host, TLS SNI, or
/// for another protocol its first bytes (16 hex digits at least).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestKey<'a> {
    Other(&'a str),
    Said {
        kind: &'a str,
        method: &'a str,
        target: &'a str,
        host: &'a str,
    },
}

pub fn request_key(c: &Record) -> Option<RequestKey<'_>> {
    let (kind, method, target, _version, host, first_bytes) = &c.request.as_ref()?.fields;
    if *kind == "other" {
        return (first_bytes.chars().count() >= 16).then_some(RequestKey::Other(first_bytes));
    }
    Some(RequestKey::Said {
        kind,
        method,
        target,
        host,
    })
}

/// An HTTP request's method and target without its Host: a request a proxy passed on
/// with Host rewritten (a weak pair on its own).
pub fn request_line_key(c: &Record) -> Option<(&str, &str)> {
    let (kind, method, target, ..) = &c.request.as_ref()?.fields;
    (*kind == "http").then_some((method.as_str(), target.as_str()))
}

type TupleKey = (Addr, u16, Addr, u16);

fn tuple_key(c: &Record) -> TupleKey {
    (c.client.0, c.client.1, c.server.0, c.server.1)
}

/// Are the first SYNs (or SYN-ACKs) the two captures hold the same packet? Only if both
/// saw as many, and over IPv4 with the same IP ID (each retransmission has its own).
pub fn same_transmission(edge: &[PacketRef], origin: &[PacketRef]) -> bool {
    if edge.is_empty() || edge.len() != origin.len() {
        return false;
    }
    let (a, b) = (&edge[0], &origin[0]);
    a.ip_id < 0 || b.ip_id < 0 || a.ip_id == b.ip_id
}

/// Per pair, the origin's SYN time minus the edge's and the edge's SYN-ACK time minus
/// the origin's: one-way delays plus or minus the offset (the same packet only).
pub fn delay_samples<'r>(
    pairs: impl IntoIterator<Item = (&'r Record, &'r Record)>,
) -> (Vec<i128>, Vec<i128>) {
    let (mut forward, mut reverse) = (Vec::new(), Vec::new());
    for (e, o) in pairs {
        if same_transmission(&e.syns, &o.syns) {
            forward.push(o.syns[0].ts_ns - e.syns[0].ts_ns);
        }
        if same_transmission(&e.synacks, &o.synacks) {
            reverse.push(e.synacks[0].ts_ns - o.synacks[0].ts_ns);
        }
    }
    (forward, reverse)
}

/// The offset from the smallest delay sample each way: (d_fwd - d_rev) / 2, good to
/// about (d_fwd + d_rev) / 2; one way only, assumed symmetric.
pub fn offset_from(d_fwd: Option<i128>, d_rev: Option<i128>, pairs: i64) -> ClockOffset {
    let Some(d_fwd) = d_fwd else {
        return ClockOffset::none();
    };
    let Some(d_rev) = d_rev else {
        return ClockOffset {
            seconds: true_div(d_fwd, NS),
            spread_s: 0.0,
            pairs_used: pairs,
            source: "estimated (one way only)",
        };
    };
    // halving a float is exact: (a / 2) / NS as Python's (a / 2 / NS)
    ClockOffset {
        seconds: true_div(d_fwd - d_rev, 2) / NS as f64,
        spread_s: true_div((d_fwd + d_rev).abs(), 2) / NS as f64,
        pairs_used: pairs,
        source: "estimated",
    }
}

/// The offset from pairs certain without the clocks (`estimate_offset`).
pub fn estimate_offset<'r>(confident: &[(&'r Record, &'r Record)]) -> ClockOffset {
    let (forward, reverse) = delay_samples(confident.iter().copied());
    offset_from(
        forward.iter().min().copied(),
        reverse.iter().min().copied(),
        confident.len() as i64,
    )
}

/// The client ISN the origin sees for this edge record, given a rewrite.
fn isn_of(edge: &Record, isn_delta: u32) -> Option<u32> {
    edge.client_isn.map(|isn| isn.wrapping_add(isn_delta))
}

/// The pair's score and the features it rests on (`_score`).
pub fn score(e: &Record, o: &Record, offset_ns: i128, isn_delta: u32) -> (f64, Reasons) {
    let mut bits = 0;
    let mut value = 0.0;
    if e.client == o.client && e.server == o.server {
        value += 10.0;
        bits |= SAME_TUPLE;
    }
    if e.client_isn.is_some() && isn_of(e, isn_delta) == o.client_isn {
        value += 8.0;
        bits |= SAME_ISN;
    }
    if let Some(t) = tsval(e) {
        if Some(t) == tsval(o) {
            value += 8.0;
            bits |= SAME_TSVAL;
        }
    }
    match request_key(e) {
        Some(key) if Some(key) == request_key(o) => {
            value += 4.0;
            bits |= SAME_REQUEST;
        }
        _ => {
            if let Some(line) = request_line_key(e) {
                if Some(line) == request_line_key(o) {
                    value += 2.0;
                    bits |= SAME_LINE;
                }
            }
        }
    }
    if e.client.1 == o.client.1 {
        value += 2.0;
        bits |= SAME_PORT;
    }
    if !layout(e).is_empty() && layout(e) == layout(o) {
        value += 1.0;
        bits |= SAME_OPTIONS;
    }
    if e.server.1 == o.server.1 {
        value += 1.0;
    }
    let dt = (syn_ts(o) - offset_ns - syn_ts(e)).abs();
    value += 3.0 * (1.0 - true_div(dt, WINDOW_NS)).max(0.0);
    let isn_delta = if bits & SAME_ISN != 0 { isn_delta } else { 0 };
    (value, Reasons { bits, isn_delta })
}

/// The SYN's option layout ("M,S,T,N,W"), "" without one.
fn layout(c: &Record) -> &str {
    c.syn_options
        .as_ref()
        .map_or("", |opts| opts.layout.as_str())
}

/// How many of the 4-tuple, the client ISN and the SYN TSval two records share.
fn strong_count(e: &Record, o: &Record, isn_delta: u32) -> usize {
    let tuple = e.client == o.client && e.server == o.server;
    let isn = e.client_isn.is_some() && isn_of(e, isn_delta) == o.client_isn;
    let ts = tsval(e).is_some() && tsval(e) == tsval(o);
    usize::from(tuple) + usize::from(isn) + usize::from(ts)
}

/// Two of the 4-tuple, the client ISN and the SYN TSval agree; or the ISN and the
/// request do (behind SNAT without timestamps the ISN is the only strong feature, and
/// 32 bits alone collide by chance). As in match.py, an edge record without a SYN's ISN
/// "agrees" with an origin record without one.
pub fn certain_pair(e: &Record, o: &Record, isn_delta: u32) -> bool {
    if strong_count(e, o, isn_delta) >= 2 {
        return true;
    }
    match request_key(e) {
        Some(key) => isn_of(e, isn_delta) == o.client_isn && Some(key) == request_key(o),
        None => false,
    }
}

/// Did either end speak HTTP or TLS?
pub fn speaks_http_or_tls(c: &Record) -> bool {
    let web = |kind: &str| kind == "http" || kind == "tls";
    c.request.as_ref().is_some_and(|r| web(r.fields.0))
        || c.response.as_ref().is_some_and(|r| web(r.fields.0))
}

/// Origin records by one feature, each feature's list sorted by SYN time: candidates
/// are found by bisection inside a time window, so a feature thousands share costs
/// only what the window holds.
struct TimeIndex<K> {
    lists: Map<K, Vec<(i128, usize)>>, // (SYN time, index), sorted
}

impl<K: Hash + Eq> TimeIndex<K> {
    fn new() -> Self {
        TimeIndex {
            lists: Map::default(),
        }
    }

    fn add(&mut self, key: K, at_ns: i128, index: usize) {
        self.lists.entry(key).or_default().push((at_ns, index));
    }

    fn freeze(&mut self) {
        for entries in self.lists.values_mut() {
            entries.sort_unstable(); // (time, index): no two alike
        }
    }

    /// Every record with the feature, if few enough to be an identity.
    fn all(&self, key: &K) -> &[(i128, usize)] {
        match self.lists.get(key) {
            Some(entries) if entries.len() <= MAX_IDENTITY_POOL => entries,
            _ => &[],
        }
    }

    /// Records with the feature whose SYN is within the window of AT, the `limit`
    /// nearest (earlier first among equally near).
    fn near(&self, key: &K, at_ns: i128, window_ns: i128, limit: usize) -> Vec<usize> {
        let Some(entries) = self.lists.get(key) else {
            return Vec::new();
        };
        let lo = entries.partition_point(|&(t, _)| t < at_ns - window_ns);
        let hi = entries.partition_point(|&(t, _)| t <= at_ns + window_ns);
        let mut found = entries[lo..hi.max(lo)].to_vec();
        if found.len() > limit {
            found.sort_by_key(|&(t, _)| (t - at_ns).abs()); // stable
            found.truncate(limit);
        }
        found.into_iter().map(|(_, index)| index).collect()
    }
}

/// One edge attempt and its twin (`model.Pair`, by index).
#[derive(Clone, Debug, PartialEq)]
pub struct PairIdx {
    pub edge: usize,
    pub origin: Option<usize>,
    pub score: f64,
    pub reasons: Reasons,
    pub confidence: Confidence,
}

/// What `match_records` found.
#[derive(Clone, Debug, PartialEq)]
pub struct Matched {
    pub pairs: Vec<PairIdx>, // one per edge attempt (a record with a SYN), in order
    pub clock: ClockOffset,
    pub unpaired: Vec<usize>, // origin records nothing paired with, in order
    pub scored: usize,        // candidate pairs scored (the work: bounded per record)
}

/// The origin's indexes of the identity features, the request and the request line.
struct Indexes<'r> {
    isn: TimeIndex<u32>,
    tsval: TimeIndex<u32>,
    tuple: TimeIndex<TupleKey>,
    request: TimeIndex<RequestKey<'r>>,
    line: TimeIndex<(&'r str, &'r str)>,
}

impl<'r> Indexes<'r> {
    fn of(origin: &[&'r Record]) -> Indexes<'r> {
        let mut ix = Indexes {
            isn: TimeIndex::new(),
            tsval: TimeIndex::new(),
            tuple: TimeIndex::new(),
            request: TimeIndex::new(),
            line: TimeIndex::new(),
        };
        for (i, &o) in origin.iter().enumerate() {
            let at = syn_ts(o);
            if let Some(isn) = o.client_isn {
                ix.isn.add(isn, at, i);
            }
            if let Some(t) = tsval(o) {
                ix.tsval.add(t, at, i);
            }
            ix.tuple.add(tuple_key(o), at, i);
            if let Some(key) = request_key(o) {
                ix.request.add(key, at, i);
            }
            if let Some(line) = request_line_key(o) {
                ix.line.add(line, at, i);
            }
        }
        ix.isn.freeze();
        ix.tsval.freeze();
        ix.tuple.freeze();
        ix.request.freeze();
        ix.line.freeze();
        ix
    }
}

/// Pair every edge attempt with its origin twin, or none (`match.match`). `clock`: an
/// offset already estimated, used as it is; else `clock_offset_s` given; else the
/// estimate from the certain pairs. `isn_delta` None: learn a firewall's constant ISN
/// rewrite from the pairs and, if there is one, pair again with it.
pub fn match_records(
    edge: &[&Record],
    origin: &[&Record],
    clock_offset_s: Option<f64>,
    clock: Option<ClockOffset>,
    isn_delta: Option<u32>,
) -> Matched {
    let delta = isn_delta.unwrap_or(0);
    let attempts: Vec<usize> = (0..edge.len())
        .filter(|&i| !edge[i].syns.is_empty())
        .collect();
    let ix = Indexes::of(origin);
    let confident = certain_pairs(edge, origin, &attempts, &ix, delta);
    let chosen = match (clock, clock_offset_s) {
        (Some(clock), _) => clock,
        (None, Some(seconds)) => ClockOffset::given(seconds),
        (None, None) => {
            let unique: Vec<(&Record, &Record)> = unique(&confident)
                .into_iter()
                .map(|(e, o)| (edge[e], origin[o]))
                .collect();
            estimate_offset(&unique)
        }
    };
    let offset_ns = chosen.offset_ns();
    let clock_known = chosen.known();
    let request_window = if clock_known {
        REQUEST_WINDOW_NS + chosen.spread_ns()
    } else {
        WINDOW_NS
    };

    let mut candidates: Vec<(f64, usize, usize, Reasons)> = Vec::new(); // by attempt
    let mut scored = 0;
    let mut seen: HashSet<usize, foldhash::fast::RandomState> = HashSet::default();
    for (ai, &ei) in attempts.iter().enumerate() {
        let e = edge[ei];
        let at = syn_ts(e) + offset_ns; // where its twin's SYN would be, origin clock
        let mut pools: Vec<Vec<usize>> = Vec::with_capacity(4);
        pools.push(match isn_of(e, delta) {
            Some(isn) => ix.isn.near(&isn, at, WINDOW_NS, MAX_CANDIDATES),
            None => Vec::new(),
        });
        pools.push(match tsval(e) {
            Some(t) => ix.tsval.near(&t, at, WINDOW_NS, MAX_CANDIDATES),
            None => Vec::new(),
        });
        pools.push(ix.tuple.near(&tuple_key(e), at, WINDOW_NS, MAX_CANDIDATES));
        let none_found = |pools: &[Vec<usize>]| pools.iter().all(Vec::is_empty);
        if none_found(&pools) {
            if let Some(key) = request_key(e) {
                pools.push(ix.request.near(&key, at, request_window, MAX_CANDIDATES));
            }
        }
        if none_found(&pools) {
            // the last resort: the same request line, Host rewritten on the way
            if let Some(line) = request_line_key(e) {
                pools.push(ix.line.near(&line, at, request_window, MAX_CANDIDATES));
            }
        }
        seen.clear();
        for &oi in pools.iter().flatten() {
            if !seen.insert(oi) {
                continue;
            }
            scored += 1;
            let (value, reasons) = score(e, origin[oi], offset_ns, delta);
            if reasons.identity() {
                candidates.push((value, ai, oi, reasons));
            }
        }
    }
    // best score first, then capture order: the global resolution of ambiguity
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut taken_edge: Vec<Option<(usize, f64, Reasons)>> = vec![None; attempts.len()];
    let mut taken_origin = vec![false; origin.len()];
    for (value, ai, oi, reasons) in candidates {
        if taken_edge[ai].is_some() || taken_origin[oi] {
            continue;
        }
        taken_edge[ai] = Some((oi, value, reasons));
        taken_origin[oi] = true;
    }
    let certain: HashSet<(usize, usize), foldhash::fast::RandomState> =
        confident.iter().copied().collect();
    let pairs: Vec<PairIdx> = attempts
        .iter()
        .zip(&taken_edge)
        .map(|(&ei, taken)| match *taken {
            Some((oi, value, reasons)) => {
                let (e, o) = (edge[ei], origin[oi]);
                let dt = (syn_ts(o) - offset_ns - syn_ts(e)).abs();
                let confidence = if certain.contains(&(ei, oi)) {
                    Confidence::Certain
                } else if reasons.strong() || (clock_known && dt <= PROBABLE_REQUEST_DT_NS) {
                    Confidence::Probable
                } else {
                    Confidence::Weak
                };
                PairIdx {
                    edge: ei,
                    origin: Some(oi),
                    score: value,
                    reasons,
                    confidence,
                }
            }
            None => PairIdx {
                edge: ei,
                origin: None,
                score: 0.0,
                reasons: Reasons::default(),
                confidence: Confidence::Unmatched,
            },
        })
        .collect();
    if isn_delta.is_none() {
        let learned = rewrite_delta(edge, origin, &pairs);
        if learned != 0 {
            let mut again = match_records(edge, origin, clock_offset_s, clock, Some(learned));
            again.scored += scored;
            return again;
        }
    }
    let unpaired = (0..origin.len()).filter(|&i| !taken_origin[i]).collect();
    Matched {
        pairs,
        clock: chosen,
        unpaired,
        scored,
    }
}

/// Pairs certain whatever the clocks say (`_certain_pairs`): time cannot narrow these
/// lookups, so a feature too common to be an identity is left out. (edge, origin).
fn certain_pairs(
    edge: &[&Record],
    origin: &[&Record],
    attempts: &[usize],
    ix: &Indexes<'_>,
    isn_delta: u32,
) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut twins: Vec<usize> = Vec::new();
    for &ei in attempts {
        let e = edge[ei];
        twins.clear();
        let by_isn = match isn_of(e, isn_delta) {
            Some(isn) => ix.isn.all(&isn),
            None => &[],
        };
        let by_tsval = match tsval(e) {
            Some(t) => ix.tsval.all(&t),
            None => &[],
        };
        for &(_, oi) in by_isn
            .iter()
            .chain(by_tsval)
            .chain(ix.tuple.all(&tuple_key(e)))
        {
            if !twins.contains(&oi) {
                twins.push(oi); // at most 3 * MAX_IDENTITY_POOL: a scan is enough
            }
        }
        out.extend(
            twins
                .iter()
                .filter(|&&oi| certain_pair(e, origin[oi], isn_delta))
                .map(|&oi| (ei, oi)),
        );
    }
    out
}

/// The pairs whose edge and origin records are in no other pair.
fn unique(pairs: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut edges: Map<usize, usize> = Map::default();
    let mut origins: Map<usize, usize> = Map::default();
    for &(e, o) in pairs {
        *edges.entry(e).or_default() += 1;
        *origins.entry(o).or_default() += 1;
    }
    pairs
        .iter()
        .copied()
        .filter(|(e, o)| edges[e] == 1 && origins[o] == 1)
        .collect()
}

/// The constant a firewall adds to client ISNs, if the pairs show one: at least
/// MIN_DELTA_PAIRS pairs, and most of those whose ISNs differ, share it (0: none).
pub fn rewrite_delta(edge: &[&Record], origin: &[&Record], pairs: &[PairIdx]) -> u32 {
    let mut counts: Vec<(u32, usize)> = Vec::new(); // in the order first seen
    let mut slot: Map<u32, usize> = Map::default();
    for p in pairs {
        let Some(oi) = p.origin else { continue };
        let (Some(sent), Some(got)) = (edge[p.edge].client_isn, origin[oi].client_isn) else {
            continue;
        };
        if sent == got {
            continue;
        }
        let delta = got.wrapping_sub(sent);
        let at = *slot.entry(delta).or_insert_with(|| {
            counts.push((delta, 0));
            counts.len() - 1
        });
        counts[at].1 += 1;
    }
    let total: usize = counts.iter().map(|&(_, n)| n).sum();
    // the first of the most common (Counter.most_common's choice among equals)
    let best = counts
        .iter()
        .fold(None, |best: Option<(u32, usize)>, &(d, n)| match best {
            Some((_, m)) if m >= n => best,
            _ => Some((d, n)),
        });
    match best {
        Some((delta, count)) if count >= MIN_DELTA_PAIRS && 2 * count > total => delta,
        _ => 0,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::track::{DirectionRec, Message, TcpOptionsRec};

    fn addr(last: u8) -> Addr {
        Addr::from_slice(&[203, 0, 113, last])
    }

    fn packet(ts_ns: i128, ip_id: i32) -> PacketRef {
        PacketRef {
            frame: 1,
            ts_ns,
            ttl: 64,
            ip_id,
            seq: 0,
        }
    }

    fn direction() -> DirectionRec {
        DirectionRec {
            packets: 1,
            payload_bytes: 0,
            retransmitted_bytes: 0,
            fin_frames: Vec::new(),
            last_ts_ns: None,
            fin_ts_ns: None,
        }
    }

    /// A record whose SYN left at `at_ns`, with this client port, ISN and request path.
    pub(crate) fn record(port: u16, isn: Option<u32>, at_ns: i128, path: &str) -> Record {
        Record {
            id: 1,
            client: (addr(7), port),
            server: (addr(10), 80),
            client_isn: isn,
            server_isn: None,
            first_frame: 1,
            last_frame: 2,
            first_ts_ns: at_ns,
            last_ts_ns: at_ns + NS,
            conn_state: "SF",
            history: String::new(),
            syns: vec![packet(at_ns, 5)],
            synacks: vec![packet(at_ns + 1_000_000, 9)],
            handshake_frame: None,
            resets: Vec::new(),
            syn_options: Some(TcpOptionsRec {
                layout: "M,S,T".into(),
                ..TcpOptionsRec::default()
            }),
            synack_options: None,
            client_sent: direction(),
            server_sent: direction(),
            request: Some(Message::from((
                3,
                at_ns,
                (
                    "http",
                    "GET".to_string(),
                    path.to_string(),
                    "HTTP/1.1".to_string(),
                    "www.example.com".to_string(),
                    String::new(),
                ),
            ))),
            response: None,
            tls_alerts: Vec::new(),
            gaps: 0,
            ended_by: "fin",
            exchange: None,
            exchange_at_rst: None,
            omitted: Vec::new(),
        }
    }

    #[test]
    fn the_same_connection_pairs_with_certainty_and_gives_the_offset() {
        let e = record(40000, Some(1000), 0, "/a");
        let mut o = record(40000, Some(1000), 3 * NS + 2_000_000, "/a");
        o.synacks = vec![packet(3 * NS + 2_500_000, 9)];
        let m = match_records(&[&e], &[&o], None, None, None);
        assert_eq!(m.pairs.len(), 1);
        let p = &m.pairs[0];
        assert_eq!((p.origin, p.confidence), (Some(0), Confidence::Certain));
        assert_eq!(
            p.reasons.text(),
            "same 4-tuple, same client ISN, same request, same client port, same SYN options"
        );
        // forward 3.002 s, reverse 1 ms - 2.5 ms + ... : (d_fwd - d_rev) / 2
        let (fwd, rev) = (3 * NS + 2_000_000, 1_000_000 - (3 * NS + 2_500_000));
        assert_eq!(m.clock.seconds, true_div(fwd - rev, 2) / 1e9);
        assert_eq!(m.clock.source, "estimated");
        assert!(m.unpaired.is_empty());
    }

    #[test]
    fn time_alone_never_pairs() {
        // another client port, ISN and path: nothing identifies them as one connection
        let e = record(40000, Some(1000), 0, "/a");
        let o = record(40001, Some(2000), 0, "/b");
        let m = match_records(&[&e], &[&o], Some(0.0), None, None);
        assert_eq!(m.pairs[0].origin, None);
        assert_eq!(m.unpaired, vec![0]);
    }

    #[test]
    fn a_constant_isn_rewrite_is_learned_and_named() {
        // source NAT (another client address and port) and a firewall adding 0x1000 to
        // each ISN: the request pairs them at first, then the delta does
        let delta = 0x1000u32;
        let edge: Vec<Record> = (0..4)
            .map(|i| {
                record(
                    40000 + i,
                    Some(1000 + u32::from(i)),
                    i128::from(i) * NS,
                    "/x",
                )
            })
            .collect();
        let origin: Vec<Record> = edge
            .iter()
            .map(|e| {
                let mut o = e.clone(); // the same request: it pairs them before the delta
                o.client = (addr(99), e.client.1 + 1000);
                o.client_isn = e.client_isn.map(|isn| isn + delta);
                o
            })
            .collect();
        let (e_refs, o_refs): (Vec<&Record>, Vec<&Record>) =
            (edge.iter().collect(), origin.iter().collect());
        let m = match_records(&e_refs, &o_refs, Some(0.0), None, None);
        for (i, p) in m.pairs.iter().enumerate() {
            assert_eq!(p.origin, Some(i));
            assert!(p
                .reasons
                .text()
                .contains("ISN rewritten by +0x00001000 in the path"));
        }
        assert_eq!(rewrite_delta(&e_refs, &o_refs, &m.pairs), 0x1000);
    }

    #[test]
    fn a_crowd_of_twins_is_bounded_and_nearest_first() {
        let mut index = TimeIndex::new();
        for i in 0..100usize {
            index.add(7u32, i128::try_from(i).unwrap() * NS / 10, i);
        }
        index.freeze();
        let near = index.near(&7, 5 * NS, WINDOW_NS, 4);
        assert_eq!(near, vec![50, 49, 51, 48]);
        assert!(index.all(&7).is_empty()); // 100 > MAX_IDENTITY_POOL
    }
}
