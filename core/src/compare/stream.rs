//! Stages 4-6 as the captures are read (stream.py, rule for rule): pair, settle
//! coverage, judge, record by record, each verdict handed out as soon as nothing still
//! to be read can change it, the rest once both captures have ended.
//!
//! A verdict is final early when its pair is certain (formed when the second record
//! arrives, with no other waiting record as certain a twin), the clock offset is known
//! (given, or estimated once WARM_UP_PAIRS certain pairs are in), its server port is
//! known to carry origin pulls, and every coverage check it rests on lies inside what
//! both captures have shown running, SETTLE_NS before their latest packet. Everything
//! else waits for the end and goes through the whole-capture rules with the final
//! offset. Memory follows the records that wait, not the capture.
//!
//! Records are owned by exactly one place at a time: a side's waiting table, the
//! origin's records no twin can come for, or a pair.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use super::{HashMap, HashSet};

use super::coverage::{build_coverage, Coverage, CoverageFacts, Recorded, Window};
use super::evidence::Cite;
use super::judge::{judge, Case, Catalogue, Verdict};
use super::matching::{
    certain_pair, delay_samples, match_records, offset_from, score, speaks_http_or_tls, syn_ts,
    tsval, ClockOffset, Confidence, MAX_IDENTITY_POOL, NS, ORIGIN_PULL_PORTS, WINDOW_NS,
};
use crate::decode::{Addr, IcmpError};
use crate::parallel;
use crate::track::{Record, IDLE_SWEEP_INTERVAL_NS, IDLE_TIMEOUT_NS};

/// Certain pairs before the offset is trusted for early verdicts.
pub const WARM_UP_PAIRS: usize = 64;
pub const SETTLE_NS: i128 = 10 * NS;
/// An ICMP error comes within a round trip of the packet it quotes (slow routers,
/// rate-limited ICMP).
pub const ICMP_AFTER_NS: i128 = 10 * NS;
const NEVER: i128 = -(1 << 62); // what a capture shows running ends this long before
const INITIAL_TTLS: [u8; 4] = [32, 64, 128, 255];
const CAPTURE_POINT_AGREEMENT: f64 = 0.9; // share of handshakes that must agree

type Rec = Box<Record>;
type Endpoint = (Addr, u16);
type IcmpKey = (Addr, u16, Addr, u16);

/// An edge record and its origin twin (or none): `model.Pair`.
#[derive(Clone, Debug)]
pub struct Pair {
    pub edge: Rec,
    pub origin: Option<Rec>,
    pub score: f64,
    pub matched_by: String,
    pub confidence: Confidence,
}

/// `--origin HOST[:PORT]`: a network (its address and prefix length) and a port.
#[derive(Clone, Debug)]
pub struct OriginSpec {
    pub network: Addr,
    pub prefix: u8,
    pub port: Option<u16>,
}

impl OriginSpec {
    fn admits(&self, c: &Record) -> bool {
        let (addr, net) = (c.server.0.as_slice(), self.network.as_slice());
        if addr.len() != net.len() || self.port.is_some_and(|p| p != c.server.1) {
            return false;
        }
        let bits = usize::from(self.prefix).min(8 * net.len());
        let (whole, rest) = (bits / 8, bits % 8);
        if addr[..whole] != net[..whole] {
            return false;
        }
        rest == 0 || {
            let mask = 0xffu8 << (8 - rest);
            addr[whole] & mask == net[whole] & mask
        }
    }
}

/// Is the edge record one that --origin/--port name?
fn chosen_by(c: &Record, specs: &[OriginSpec], ports: &[u16]) -> bool {
    (specs.is_empty() || specs.iter().any(|s| s.admits(c)))
        && (ports.is_empty() || ports.contains(&c.server.1))
}

/// What one handshake says of where its capture was: "client", "server" or "".
fn capture_vote(c: &Record) -> Option<bool> {
    let (syn, synack) = (c.syns.first()?, c.synacks.first()?);
    let syn_initial = INITIAL_TTLS.contains(&syn.ttl);
    let synack_initial = INITIAL_TTLS.contains(&synack.ttl);
    (syn_initial != synack_initial).then_some(syn_initial) // true: the client's end
}

#[derive(Clone, Copy, Default)]
struct Votes {
    client: usize,
    server: usize,
}

impl Votes {
    /// The capture point the votes agree on: Some(true) the client's, Some(false) the
    /// server's.
    fn point(&self) -> Option<bool> {
        let total = (self.client + self.server) as f64;
        if self.client > 0 && self.client as f64 >= CAPTURE_POINT_AGREEMENT * total {
            Some(true)
        } else if self.server > 0 && self.server as f64 >= CAPTURE_POINT_AGREEMENT * total {
            Some(false)
        } else {
            None
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Key {
    Isn(u32),
    Tsval(u32),
}

fn keys(c: &Record) -> impl Iterator<Item = Key> {
    c.client_isn
        .map(Key::Isn)
        .into_iter()
        .chain(tsval(c).map(Key::Tsval))
}

fn second(t: i128) -> i128 {
    t.div_euclid(NS)
}

/// One capture's records that wait for a twin, by identity and by the second of
/// their SYN, and in the order they give up waiting. Tokens rise with each record, so
/// a bucket's token order is its records' arrival order.
#[derive(Default)]
struct Side {
    waiting: HashMap<u64, Rec>,
    by_key: HashMap<Key, BTreeSet<u64>>,
    by_second: HashMap<i128, BTreeSet<u64>>,
    expiry: BinaryHeap<Reverse<(i128, u64)>>, // (last packet, token)
    next_token: u64,
    votes: Votes,
    icmp: HashMap<IcmpKey, Vec<IcmpError>>,
    clock_ns: Option<i128>, // its latest packet so far
}

impl Side {
    fn wait(&mut self, c: Rec) {
        self.next_token += 1;
        let token = self.next_token;
        for key in keys(&c) {
            self.by_key.entry(key).or_default().insert(token);
        }
        self.by_second
            .entry(second(syn_ts(&c)))
            .or_default()
            .insert(token);
        self.expiry.push(Reverse((c.last_ts_ns, token)));
        self.waiting.insert(token, c);
        if self.expiry.len() > 2 * self.waiting.len() + 4096 {
            // mostly records paired since: keep the heap to what waits
            let waiting = &self.waiting;
            self.expiry
                .retain(|Reverse((_, t))| waiting.contains_key(t));
        }
    }

    fn take(&mut self, token: u64) -> Option<Rec> {
        let c = self.waiting.remove(&token)?;
        for key in keys(&c) {
            if let Some(bucket) = self.by_key.get_mut(&key) {
                bucket.remove(&token);
                if bucket.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
        let s = second(syn_ts(&c));
        if let Some(bucket) = self.by_second.get_mut(&s) {
            bucket.remove(&token);
            if bucket.is_empty() {
                self.by_second.remove(&s);
            }
        }
        Some(c)
    }

    /// Take the waiting records whose last packet is at or before UNTIL.
    fn expired(&mut self, until_ns: i128) -> Vec<Rec> {
        let mut out = Vec::new();
        while let Some(&Reverse((last, token))) = self.expiry.peek() {
            if last > until_ns {
                break;
            }
            self.expiry.pop();
            if let Some(c) = self.take(token) {
                out.push(c);
            }
        }
        out
    }

    /// Waiting records whose SYN (this side's clock) is within the window of AT.
    fn near(&self, at_ns: i128, window_ns: i128) -> Vec<u64> {
        (second(at_ns - window_ns)..=second(at_ns + window_ns))
            .filter_map(|s| self.by_second.get(&s))
            .flat_map(|bucket| bucket.iter().copied())
            .collect()
    }

    /// Waiting records that would pair with C with certainty.
    fn certain_twins(&self, c: &Record) -> Vec<u64> {
        let mut found: Vec<u64> = Vec::new();
        for key in keys(c) {
            if let Some(bucket) = self.by_key.get(&key) {
                if bucket.len() <= MAX_IDENTITY_POOL {
                    // a key that common is not an identity
                    for &t in bucket {
                        if !found.contains(&t) {
                            found.push(t);
                        }
                    }
                }
            }
        }
        found.retain(|t| certain_pair(c, &self.waiting[t], 0));
        found
    }
}

fn add_icmp(index: &mut HashMap<IcmpKey, Vec<IcmpError>>, errors: &[IcmpError]) {
    for err in errors {
        index
            .entry((err.src, err.sport, err.dst, err.dport))
            .or_default()
            .push(err.clone());
    }
}

/// The errors that quote this record's packets, either way, while it lived.
fn icmp_for<'i>(c: &Record, index: &'i HashMap<IcmpKey, Vec<IcmpError>>) -> Vec<&'i IcmpError> {
    if index.is_empty() {
        return Vec::new();
    }
    let ((ca, cp), (sa, sp)) = (c.client, c.server);
    let ways = [(ca, cp, sa, sp), (sa, sp, ca, cp)];
    ways.iter()
        .filter_map(|key| index.get(key))
        .flatten()
        .filter(|e| c.first_ts_ns <= e.ts_ns && e.ts_ns <= c.last_ts_ns + ICMP_AFTER_NS)
        .collect()
}

/// What the end of a streamed compare knows that its verdicts do not say.
pub struct StreamEnd {
    pub clock: ClockOffset,
    pub coverage: Coverage,
    pub unpaired_origin: Vec<Rec>,
    pub others: Vec<(u16, usize)>, // port -> how many, by port
    pub judged: usize,
    pub assumed: usize,
    pub swapped_by_ttl: bool,
    pub streamed: bool, // some verdicts were released before the end
}

/// How the engine is set up (stream.py's StreamingCompare arguments).
pub struct Settings {
    pub specs: Vec<OriginSpec>,
    pub ports: Vec<u16>,
    pub pull_ports: Vec<u16>,
    pub clock_offset_s: Option<f64>,
    pub release: bool,
    pub roles_known: bool,
    pub edge_cite: Cite,
    pub idle_timeout_ns: i128,
    pub several_files: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            specs: Vec::new(),
            ports: Vec::new(),
            pull_ports: Vec::new(),
            clock_offset_s: None,
            release: true,
            roles_known: false,
            edge_cite: Cite::default(),
            idle_timeout_ns: IDLE_TIMEOUT_NS,
            several_files: false,
        }
    }
}

/// Feed it both captures' records (`add_edge`/`add_origin`, and each capture's time
/// with `clock`); each verdict, once final, goes to `out`; `finish` judges the rest.
pub struct StreamingCompare {
    pub catalogue: Catalogue,
    settings: Settings,
    pull_ports: HashSet<u16>,
    edge_start: Option<Recorded>,
    origin_start: Option<Recorded>,
    edge: Side,
    origin: Side,
    facts: CoverageFacts,
    swapped_facts: CoverageFacts, // the roles exchanged, until the first verdict is out
    served: HashSet<Endpoint>,
    paired_endpoints: HashSet<Endpoint>,
    certain: Vec<Pair>, // before the offset is known
    held: Vec<Pair>,    // pairs whose verdict only the end settles
    expire_ns: i128,
    alone: HashMap<u64, Rec>, // origin records no edge twin can come for, a while
    alone_by_second: HashMap<i128, BTreeSet<u64>>,
    alone_order: BinaryHeap<Reverse<(i128, u64)>>,
    origin_only: Vec<Rec>,
    later: BinaryHeap<Reverse<(i128, u64)>>, // pairs to judge again once read this far
    later_pairs: HashMap<u64, Pair>,
    forward: Option<i128>, // the lowest delay sample each way
    reverse: Option<i128>,
    certain_count: usize,
    offset: Option<ClockOffset>,
    others: HashMap<u16, usize>,
    judged: usize,
    assumed: usize,
    queued: u64,
    released: bool,
    streaming: bool,
    scored: usize, // candidate pairs scored, matching and rescoring
    /// The verdicts final so far, in order, for the caller to take.
    pub out: Vec<(Pair, Verdict)>,
}

impl StreamingCompare {
    pub fn new(settings: Settings, catalogue: Catalogue) -> StreamingCompare {
        let mut pull_ports: HashSet<u16> = ORIGIN_PULL_PORTS.into_iter().collect();
        pull_ports.extend(settings.pull_ports.iter().copied());
        let offset = settings.clock_offset_s.map(ClockOffset::given);
        let expire_ns = settings.idle_timeout_ns + IDLE_SWEEP_INTERVAL_NS + SETTLE_NS;
        let streaming = settings.release;
        StreamingCompare {
            catalogue,
            settings,
            pull_ports,
            edge_start: None,
            origin_start: None,
            edge: Side::default(),
            origin: Side::default(),
            facts: CoverageFacts::default(),
            swapped_facts: CoverageFacts::default(),
            served: HashSet::default(),
            paired_endpoints: HashSet::default(),
            certain: Vec::new(),
            held: Vec::new(),
            expire_ns,
            alone: HashMap::default(),
            alone_by_second: HashMap::default(),
            alone_order: BinaryHeap::new(),
            origin_only: Vec::new(),
            later: BinaryHeap::new(),
            later_pairs: HashMap::default(),
            forward: None,
            reverse: None,
            certain_count: 0,
            offset,
            others: HashMap::default(),
            judged: 0,
            assumed: 0,
            queued: 0,
            released: false,
            streaming,
            scored: 0,
            out: Vec::new(),
        }
    }

    pub fn set_edge_cite(&mut self, cite: Cite) {
        self.settings.edge_cite = cite;
    }

    pub fn edge_cite(&self) -> &Cite {
        &self.settings.edge_cite
    }

    pub fn released(&self) -> bool {
        self.released
    }

    /// Candidate pairs scored so far: the matcher's work, bounded per record.
    pub fn scored(&self) -> usize {
        self.scored
    }

    pub fn judged(&self) -> usize {
        self.judged
    }

    /// Records waiting for a twin now, both captures'.
    pub fn waiting(&self) -> usize {
        self.edge.waiting.len() + self.origin.waiting.len()
    }

    pub fn pull_ports(&self) -> &HashSet<u16> {
        &self.pull_ports
    }

    // --- input --------------------------------------------------------------------------

    /// When a capture started (its sidecar, or its first packet), its own clock.
    pub fn start(&mut self, edge_side: bool, recorded: Recorded) {
        if edge_side {
            self.edge_start = Some(recorded);
        } else {
            self.origin_start = Some(recorded);
        }
    }

    /// A capture's latest packet so far, and the ICMP errors read since last time.
    pub fn clock(&mut self, edge_side: bool, clock_ns: Option<i128>, icmp: &[IcmpError]) {
        let own = if edge_side {
            &mut self.edge
        } else {
            &mut self.origin
        };
        own.clock_ns = clock_ns;
        add_icmp(&mut own.icmp, icmp);
        self.retry();
    }

    /// How far the edge capture has been read past the origin's (0 until known).
    pub fn lead_ns(&self) -> i128 {
        match (self.offset, self.edge.clock_ns, self.origin.clock_ns) {
            (Some(offset), Some(e), Some(o)) => e - (o - offset.offset_ns()),
            _ => 0,
        }
    }

    /// Is the origin capture read less far than the edge's (capture time: on the edge's
    /// clock once the offset is known, else each from its own start)? compare hands
    /// the origin's next batch over first then, waiting for it: what the engine holds at
    /// each step follows from the two captures alone, not from their threads' timing.
    pub fn origin_behind(&self) -> bool {
        let (Some(e), Some(o)) = (self.edge.clock_ns, self.origin.clock_ns) else {
            return self.origin.clock_ns.is_none(); // nothing of it yet: its first batch
        };
        if let Some(offset) = self.offset.filter(|o| o.known()) {
            return o - offset.offset_ns() < e;
        }
        let start = |r: &Option<Recorded>| r.as_ref().and_then(|r| r.start_ns);
        match (start(&self.edge_start), start(&self.origin_start)) {
            (Some(edge_start), Some(origin_start)) => o - origin_start < e - edge_start,
            _ => true,
        }
    }

    fn retry(&mut self) {
        let shown = self.shown_ns();
        while let Some(&Reverse((at, token))) = self.later.peek() {
            if at > shown {
                break;
            }
            self.later.pop();
            if let Some(pair) = self.later_pairs.remove(&token) {
                self.attempt(pair);
            }
        }
        if self.released && self.streaming {
            self.expire(shown);
        }
    }

    /// A record's twin comes at the latest EXPIRE_NS after its last packet: past that, a
    /// waiting origin record is the origin's alone, and a waiting edge attempt is paired
    /// as the whole-capture matcher would, among the origin records near its SYN.
    fn expire(&mut self, shown: i128) {
        let Some(offset) = self.offset else { return };
        let offset_ns = offset.offset_ns();
        for o in self.origin.expired(shown + offset_ns - self.expire_ns) {
            self.queued += 1;
            let until = syn_ts(&o) - offset_ns + WINDOW_NS + self.expire_ns;
            self.alone_by_second
                .entry(second(syn_ts(&o)))
                .or_default()
                .insert(self.queued);
            self.alone_order.push(Reverse((until, self.queued)));
            self.alone.insert(self.queued, o);
        }
        for e in self.edge.expired(shown - self.expire_ns) {
            self.unpaired_edge(e, offset_ns);
        }
        // the origin's own records stay candidates while an edge attempt near them may
        // expire, then are reported as such
        while let Some(&Reverse((until, token))) = self.alone_order.peek() {
            if until > shown {
                break;
            }
            self.alone_order.pop();
            if let Some(o) = self.drop_alone(token) {
                self.origin_only.push(o);
            }
        }
    }

    fn unpaired_edge(&mut self, e: Rec, offset_ns: i128) {
        let at = syn_ts(&e) + offset_ns;
        // candidates: (in the origin's waiting table?, token)
        let mut tokens: Vec<(bool, u64)> = self
            .origin
            .near(at, WINDOW_NS)
            .into_iter()
            .map(|t| (true, t))
            .collect();
        for s in second(at - WINDOW_NS)..=second(at + WINDOW_NS) {
            if let Some(bucket) = self.alone_by_second.get(&s) {
                tokens.extend(bucket.iter().map(|&t| (false, t)));
            }
        }
        let matched = {
            let candidates: Vec<&Record> = tokens
                .iter()
                .map(|&(waiting, t)| {
                    if waiting {
                        &*self.origin.waiting[&t]
                    } else {
                        &*self.alone[&t]
                    }
                })
                .collect();
            match_records(&[&e], &candidates, None, self.offset, None)
        };
        self.scored += matched.scored;
        let Some(p) = matched.pairs.into_iter().next() else {
            return;
        };
        let origin = p.origin.and_then(|i| {
            let (waiting, t) = tokens[i];
            if waiting {
                self.origin.take(t)
            } else {
                self.drop_alone(t)
            }
        });
        if let Some(o) = &origin {
            self.paired_endpoints.insert(e.server);
            if p.confidence != Confidence::Weak {
                self.facts.add_trusted(&e, o);
            }
        }
        self.attempt(Pair {
            edge: e,
            origin,
            score: p.score,
            matched_by: p.reasons.text(),
            confidence: p.confidence,
        });
    }

    fn drop_alone(&mut self, token: u64) -> Option<Rec> {
        let o = self.alone.remove(&token)?;
        let s = second(syn_ts(&o));
        if let Some(bucket) = self.alone_by_second.get_mut(&s) {
            bucket.remove(&token);
            if bucket.is_empty() {
                self.alone_by_second.remove(&s);
            }
        }
        Some(o)
    }

    /// Up to when (edge clock) both captures are known to have run.
    fn shown_ns(&self) -> i128 {
        match (self.edge.clock_ns, self.origin.clock_ns, self.offset) {
            (Some(e), Some(o), Some(offset)) => e.min(o - offset.offset_ns()),
            _ => NEVER,
        }
    }

    pub fn add_edge(&mut self, c: Rec) {
        self.facts.add_edge(&c);
        if !self.released {
            self.swapped_facts.add_origin(&c);
        }
        self.note(&c, true);
        if c.syns.is_empty() {
            return; // not an attempt: only what it shows of ports and hosts counts
        }
        self.arrive(c, true);
    }

    pub fn add_origin(&mut self, c: Rec) {
        self.facts.add_origin(&c);
        if !self.released {
            self.swapped_facts.add_edge(&c);
        }
        self.note(&c, false);
        if !c.syns.is_empty() || !c.synacks.is_empty() {
            self.served.insert(c.server);
        }
        self.arrive(c, false);
    }

    fn note(&mut self, c: &Record, edge_side: bool) {
        if speaks_http_or_tls(c) {
            self.pull_ports.insert(c.server.1);
        }
        if let Some(client) = capture_vote(c) {
            let side = if edge_side {
                &mut self.edge
            } else {
                &mut self.origin
            };
            if client {
                side.votes.client += 1;
            } else {
                side.votes.server += 1;
            }
        }
    }

    fn arrive(&mut self, c: Rec, edge_first: bool) {
        let (own, other) = if edge_first {
            (&mut self.edge, &mut self.origin)
        } else {
            (&mut self.origin, &mut self.edge)
        };
        let twins = other.certain_twins(&c);
        if twins.len() != 1 || !own.certain_twins(&other.waiting[&twins[0]]).is_empty() {
            own.wait(c); // no twin yet, or more than one: the end decides
            return;
        }
        let Some(twin) = other.take(twins[0]) else {
            return;
        };
        let (e, o) = if edge_first { (c, twin) } else { (twin, c) };
        self.scored += 1;
        let matched_by = score(&e, &o, 0, 0).1.text();
        self.paired(Pair {
            edge: e,
            origin: Some(o),
            score: 0.0,
            matched_by,
            confidence: Confidence::Certain,
        });
    }

    fn paired(&mut self, pair: Pair) {
        let Some(o) = &pair.origin else { return };
        let e = &pair.edge;
        self.facts.add_trusted(e, o);
        if !self.released {
            self.swapped_facts.add_trusted(o, e);
        }
        self.paired_endpoints.insert(e.server);
        let (forward, reverse) = delay_samples([(&**e, &**o)]);
        self.forward = lowest(self.forward, &forward);
        self.reverse = lowest(self.reverse, &reverse);
        self.certain_count += 1;
        if self.settings.clock_offset_s.is_none() {
            self.offset = Some(offset_from(
                self.forward,
                self.reverse,
                self.certain_count as i64,
            ));
        }
        if !self.released && !self.may_release() {
            self.certain.push(pair);
            return;
        }
        if !self.released {
            self.released = true;
            for p in std::mem::take(&mut self.certain) {
                self.attempt(p);
            }
        }
        self.attempt(pair);
    }

    /// Early verdicts only with a trusted offset and the captures the right way round.
    fn may_release(&mut self) -> bool {
        if !self.streaming || !self.offset.is_some_and(|o| o.known()) {
            return false;
        }
        if self.settings.clock_offset_s.is_none() && self.certain_count < WARM_UP_PAIRS {
            return false;
        }
        if !self.settings.roles_known
            && self.edge.votes.point() == Some(false)
            && self.origin.votes.point() == Some(true)
        {
            self.streaming = false; // judged at the end, swapped back as compare does
            return false;
        }
        true
    }

    // --- early verdicts -----------------------------------------------------------------

    /// Judge a pair now if nothing still to be read can change its verdict (`_try`).
    fn attempt(&mut self, pair: Pair) {
        let Some(offset) = self.offset else {
            self.held.push(pair);
            return;
        };
        let (e, o) = (&pair.edge, pair.origin.as_deref());
        let port = e.server.1;
        if !self.settings.specs.is_empty() || !self.settings.ports.is_empty() {
            if !chosen_by(e, &self.settings.specs, &self.settings.ports) {
                *self.others.entry(port).or_default() += 1;
                return;
            }
        } else if !self.pull_ports.contains(&port) {
            self.held.push(pair); // its port may still turn out to carry origin pulls
            return;
        } else if o.is_none()
            && !self.served.is_empty()
            && !self.served.contains(&e.server)
            && !self.paired_endpoints.contains(&e.server)
        {
            // an endpoint the origin capture has not served: another origin's connection
            *self.others.entry(port).or_default() += 1;
            return;
        }
        let offset_ns = offset.offset_ns();
        let last = match o {
            None => e.last_ts_ns,
            Some(o) => e.last_ts_ns.max(o.last_ts_ns - offset_ns),
        };
        let ready_at = last + SETTLE_NS;
        let shown = self.shown_ns();
        let (Some(edge_clock), Some(origin_clock)) = (self.edge.clock_ns, self.origin.clock_ns)
        else {
            self.later(ready_at, pair);
            return;
        };
        if ready_at > shown {
            self.later(ready_at, pair);
            return;
        }
        let coverage = Coverage {
            edge: running(self.edge_start.as_ref(), edge_clock, 0),
            origin: Some(running(self.origin_start.as_ref(), origin_clock, offset_ns)),
            delays: self.facts.delays(offset_ns),
            round_trip_ns: self.facts.round_trip_bound(),
            offset_ns,
        };
        let (verdict, settled_at, settled) = {
            let mut case = Case {
                edge: e,
                origin: o,
                matched_by: pair.matched_by.clone(),
                confidence: pair.confidence,
                coverage: &coverage,
                clock_known: true,
                checks: Vec::new(),
                edge_icmp: icmp_for(e, &self.edge.icmp),
                origin_icmp: o.map_or(Vec::new(), |o| icmp_for(o, &self.origin.icmp)),
                edge_cite: &self.settings.edge_cite,
                catalogue: &self.catalogue,
            };
            let verdict = judge(&mut case);
            let settled_at = case
                .checks
                .iter()
                .map(|c| c.due_until_ns + SETTLE_NS)
                .max()
                .unwrap_or(ready_at);
            let settled = case.checks.iter().all(|c| c.covered) && settled_at <= shown;
            (verdict, settled_at, settled)
        };
        if verdict.outcome == "inconclusive" || !verdict.assumes.is_empty() || !settled {
            if settled_at > shown {
                self.later(settled_at, pair); // what it rests on is not read yet
            } else {
                self.held.push(pair); // it rests on a capture's start, or its end
            }
            return;
        }
        let mut pair = pair;
        if let (Some(o), Confidence::Certain) = (&pair.origin, pair.confidence) {
            // scored only now, with the offset it is judged with
            self.scored += 1;
            pair.score = score(&pair.edge, o, offset_ns, 0).0;
        }
        self.emit(pair, verdict);
    }

    fn later(&mut self, at_ns: i128, pair: Pair) {
        self.queued += 1;
        self.later.push(Reverse((at_ns, self.queued)));
        self.later_pairs.insert(self.queued, pair);
    }

    fn emit(&mut self, pair: Pair, verdict: Verdict) {
        self.judged += 1;
        self.assumed += usize::from(!verdict.assumes.is_empty());
        self.out.push((pair, verdict));
    }

    // --- the end ------------------------------------------------------------------------

    /// Capture order: by frame; across several files, by time.
    fn order(&self, c: &Record) -> (i128, i64) {
        let t = if self.settings.several_files {
            c.first_ts_ns
        } else {
            0
        };
        (t, c.first_frame)
    }

    /// Do the TTLs say the first capture was taken on the origin, the second on the edge?
    pub fn swapped_by_ttl(&self) -> bool {
        self.edge.votes.point() == Some(false) && self.origin.votes.point() == Some(true)
    }

    /// Both captures have ended: judge what waited, with the final offset and windows.
    /// `swap`: the records were given the wrong way round (only before any release).
    pub fn finish(&mut self, edge: &Recorded, origin: Option<&Recorded>, swap: bool) -> StreamEnd {
        let mut held: Vec<Pair> = std::mem::take(&mut self.certain);
        held.append(&mut self.held);
        // the pairs that waited to be judged again: stream.py takes them in its heap's
        // list order, here by (time, token); the pairs are sorted by capture order below
        // (stably), and no two pairs share an edge record, so the verdicts' order is one
        let mut later = std::mem::take(&mut self.later).into_vec();
        later.sort_unstable_by_key(|Reverse(entry)| *entry);
        let mut later_pairs = std::mem::take(&mut self.later_pairs);
        for Reverse((_, token)) in later {
            if let Some(p) = later_pairs.remove(&token) {
                held.push(p);
            }
        }
        let mut alone: Vec<Rec> = std::mem::take(&mut self.origin_only);
        let mut alone_tokens: Vec<u64> = self.alone.keys().copied().collect();
        alone_tokens.sort_unstable(); // dict order: as they were queued
        alone.extend(
            alone_tokens
                .into_iter()
                .filter_map(|t| self.alone.remove(&t)),
        );
        let mut edge_rest = drain_waiting(&mut self.edge);
        let mut origin_rest = drain_waiting(&mut self.origin);
        edge_rest.sort_by_key(|c| self.order(c));
        origin_rest.sort_by_key(|c| self.order(c));
        let (mut forward, mut reverse) = (self.forward, self.reverse);
        let mut facts = std::mem::take(&mut self.facts);
        if swap {
            held = held
                .into_iter()
                .filter_map(|p| {
                    Some(Pair {
                        edge: p.origin?,
                        origin: Some(p.edge),
                        score: 0.0,
                        matched_by: p.matched_by,
                        confidence: Confidence::Certain,
                    })
                })
                .collect();
            std::mem::swap(&mut edge_rest, &mut origin_rest);
            facts = std::mem::take(&mut self.swapped_facts);
            let (f, r) = delay_samples(
                held.iter()
                    .filter_map(|p| Some((&*p.edge, &**p.origin.as_ref()?))),
            );
            forward = f.into_iter().min();
            reverse = r.into_iter().min();
            self.served = origin_rest.iter().map(|c| c.server).collect();
        }
        let clock = match self.settings.clock_offset_s {
            Some(seconds) => ClockOffset::given(seconds),
            None => offset_from(forward, reverse, self.certain_count as i64),
        };
        // no certain pair gave an offset: the rest may (a rewrite of ISNs learned there)
        let matched = {
            let e: Vec<&Record> = edge_rest.iter().map(|c| &**c).collect();
            let o: Vec<&Record> = origin_rest.iter().map(|c| &**c).collect();
            match_records(&e, &o, None, clock.known().then_some(clock), None)
        };
        let clock = matched.clock;
        let offset_ns = clock.offset_ns();
        self.scored += matched.scored;
        for p in &mut held {
            if let (Some(o), Confidence::Certain) = (&p.origin, p.confidence) {
                self.scored += 1;
                p.score = score(&p.edge, o, offset_ns, 0).0;
            }
        }
        let mut edge_slots: Vec<Option<Rec>> = edge_rest.into_iter().map(Some).collect();
        let mut origin_slots: Vec<Option<Rec>> = origin_rest.into_iter().map(Some).collect();
        let mut rest_pairs: Vec<Pair> = Vec::with_capacity(matched.pairs.len());
        for p in &matched.pairs {
            let Some(e) = edge_slots[p.edge].take() else {
                continue;
            };
            let o = p.origin.and_then(|i| origin_slots[i].take());
            if let Some(o) = &o {
                if p.confidence != Confidence::Weak {
                    facts.add_trusted(&e, o);
                }
            }
            rest_pairs.push(Pair {
                edge: e,
                origin: o,
                score: p.score,
                matched_by: p.reasons.text(),
                confidence: p.confidence,
            });
        }
        let unpaired: Vec<Rec> = matched
            .unpaired
            .iter()
            .filter_map(|&i| origin_slots[i].take())
            .collect();
        let mut pairs = held;
        pairs.extend(rest_pairs);
        pairs.sort_by_key(|p| self.order(&p.edge)); // stable, as sorted()
        let (pulls, others) = self.select(pairs);
        for p in &others {
            *self.others.entry(p.edge.server.1).or_default() += 1;
        }
        let coverage = build_coverage(edge, origin, &facts, offset_ns, clock.spread_ns());
        let (edge_index, origin_index) = if swap {
            (&self.origin.icmp, &self.edge.icmp)
        } else {
            (&self.edge.icmp, &self.origin.icmp)
        };
        let end = EndJudge {
            coverage: &coverage,
            clock_known: clock.known(),
            edge_index,
            origin_index,
            edge_cite: &self.settings.edge_cite,
            catalogue: &self.catalogue,
        };
        let verdicts = end.judge_all(&pulls, PAIRS_PER_THREAD);
        self.out.reserve(pulls.len());
        for (p, verdict) in pulls.into_iter().zip(verdicts) {
            self.emit(p, verdict);
        }
        let mut unpaired_origin = alone;
        unpaired_origin.extend(unpaired);
        unpaired_origin.sort_by_key(|c| self.order(c));
        let mut others: Vec<(u16, usize)> = self.others.iter().map(|(&p, &n)| (p, n)).collect();
        others.sort_unstable();
        StreamEnd {
            clock,
            coverage,
            unpaired_origin,
            others,
            judged: self.judged,
            assumed: self.assumed,
            swapped_by_ttl: self.swapped_by_ttl(),
            streamed: self.released,
        }
    }

    /// The origin-pull attempts among the pairs, and the others (`match.select`).
    fn select(&self, pairs: Vec<Pair>) -> (Vec<Pair>, Vec<Pair>) {
        let s = &self.settings;
        if !s.specs.is_empty() || !s.ports.is_empty() {
            return pairs
                .into_iter()
                .partition(|p| chosen_by(&p.edge, &s.specs, &s.ports));
        }
        let mut keep: HashSet<Endpoint> = self.served.clone();
        keep.extend(
            pairs
                .iter()
                .filter(|p| p.origin.is_some())
                .map(|p| p.edge.server),
        );
        keep.extend(self.paired_endpoints.iter().copied());
        let served = !self.served.is_empty();
        pairs.into_iter().partition(|p| {
            self.pull_ports.contains(&p.edge.server.1) && (!served || keep.contains(&p.edge.server))
        })
    }
}

/// Pairs a thread judges at least, where several share the end's: below that a
/// thread's start costs more than it saves.
const PAIRS_PER_THREAD: usize = 1024;

/// What the end judges every pair with: the whole-capture coverage and offset.
struct EndJudge<'a> {
    coverage: &'a Coverage,
    clock_known: bool,
    edge_index: &'a HashMap<IcmpKey, Vec<IcmpError>>,
    origin_index: &'a HashMap<IcmpKey, Vec<IcmpError>>,
    edge_cite: &'a Cite,
    catalogue: &'a Catalogue,
}

impl EndJudge<'_> {
    fn judge(&self, p: &Pair) -> Verdict {
        let mut case = Case {
            edge: &p.edge,
            origin: p.origin.as_deref(),
            matched_by: p.matched_by.clone(),
            confidence: p.confidence,
            coverage: self.coverage,
            clock_known: self.clock_known,
            checks: Vec::new(),
            edge_icmp: icmp_for(&p.edge, self.edge_index),
            origin_icmp: p
                .origin
                .as_deref()
                .map_or(Vec::new(), |o| icmp_for(o, self.origin_index)),
            edge_cite: self.edge_cite,
            catalogue: self.catalogue,
        };
        judge(&mut case)
    }

    /// Each pair's verdict, in order. Where there are many (the pairs of a capture's
    /// last seconds, all judged at its end while nothing else runs), consecutive parts
    /// of them on threads of their own: a pair's verdict rests on it and what every
    /// pair shares only. `per_thread`: pairs a thread judges at least.
    fn judge_all(&self, pairs: &[Pair], per_thread: usize) -> Vec<Verdict> {
        let parts = parallel::parts_for(pairs.len(), per_thread);
        let cut: Vec<&[Pair]> = pairs.chunks(pairs.len().div_ceil(parts).max(1)).collect();
        let judged = parallel::in_parts(cut, |part| {
            part.iter().map(|p| self.judge(p)).collect::<Vec<_>>()
        });
        judged.into_iter().flatten().collect()
    }
}

fn drain_waiting(side: &mut Side) -> Vec<Rec> {
    let mut tokens: Vec<u64> = side.waiting.keys().copied().collect();
    tokens.sort_unstable(); // dict order: as they arrived
    let out = tokens
        .into_iter()
        .filter_map(|t| side.waiting.remove(&t))
        .collect();
    side.by_key.clear();
    side.by_second.clear();
    side.expiry.clear();
    out
}

/// The lowest delay sample so far, with new ones.
fn lowest(so_far: Option<i128>, new: &[i128]) -> Option<i128> {
    so_far.into_iter().chain(new.iter().copied()).min()
}

/// What a capture has shown so far, on the edge's clock: from its start to its latest
/// packet (a given end where there is one).
fn running(start: Option<&Recorded>, clock_ns: i128, offset_ns: i128) -> Window {
    let mut end = clock_ns;
    if let Some(s) = start {
        if let (Some(given_end), "given") = (s.end_ns, s.start_source.as_str()) {
            end = given_end;
        }
    }
    let shift = -offset_ns;
    Window {
        start_ns: start.and_then(|s| s.start_ns).map(|t| t + shift),
        end_ns: Some(end + shift),
        start_source: start.map_or("first packet".into(), |s| s.start_source.clone()),
        end_source: "read so far".into(),
        last_packet_ns: Some(end + shift),
        assumed_end: false,
        holes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::coverage::{Delays, Window};
    use crate::compare::matching::tests::record;

    fn window() -> Window {
        // from 10 s: the first pairs' starts were not seen
        Window {
            start_ns: Some(10 * NS),
            end_ns: Some(10_000 * NS),
            start_source: "first packet".into(),
            end_source: "last packet".into(),
            last_packet_ns: Some(10_000 * NS),
            assumed_end: false,
            holes: Vec::new(),
        }
    }

    #[test]
    fn the_end_judges_on_several_threads_as_on_one() {
        let coverage = Coverage {
            edge: window(),
            origin: Some(window()),
            delays: Delays {
                forward_ns: NS / 100,
                reverse_ns: NS / 100,
                measured_pairs: 9,
            },
            round_trip_ns: NS / 50,
            offset_ns: 0,
        };
        let no_icmp = HashMap::default();
        let (cite, catalogue) = (Cite::default(), Catalogue::default());
        let end = EndJudge {
            coverage: &coverage,
            clock_known: true,
            edge_index: &no_icmp,
            origin_index: &no_icmp,
            edge_cite: &cite,
            catalogue: &catalogue,
        };
        // answered, unanswered and origin-less pairs, in an order no part shares
        let pairs: Vec<Pair> = (0..37u16)
            .map(|i| {
                let at = i128::from(i) * NS;
                let mut edge = record(1000 + i, Some(u32::from(i)), at, &format!("/{i}"));
                if i % 4 != 0 {
                    edge.client_sent.payload_bytes = 100; // the request was sent
                }
                if i % 5 == 0 {
                    edge.client_sent.fin_frames = vec![3];
                    edge.server_sent.fin_frames = vec![4];
                }
                let edge = Box::new(edge);
                let origin = (i % 3 != 0).then(|| edge.clone());
                Pair {
                    edge,
                    origin,
                    score: 1.0,
                    matched_by: "same client ISN".into(),
                    confidence: Confidence::Certain,
                }
            })
            .collect();
        let alone = end.judge_all(&pairs, usize::MAX);
        assert_eq!(alone.len(), pairs.len());
        for per_thread in [1, 5, 18, 19] {
            assert_eq!(
                end.judge_all(&pairs, per_thread),
                alone,
                "{per_thread} a thread"
            );
        }
        let reasons: HashSet<&str> = alone.iter().map(|v| v.reason).collect();
        assert!(reasons.len() >= 4, "{reasons:?}");
    }
}
