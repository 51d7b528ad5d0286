//! Stage 3, track: segments -> connection records, streamed. The rules of the Python
//! tracker it replaced (kept as tests/track_reference.py and held to this one by the
//! tests), field for field.
//!
//! A connection is a 4-tuple plus the client's ISN. It is released when it ends:
//! closed (FIN both ways, or RST) and quiet for the close delay, idle for the idle
//! timeout, replaced by a new attempt on the same 4-tuple, given up as one of too many
//! half-open ones, or at the end of the capture. So memory grows with the connections
//! alive at one time, not with the packets. Connection state and history follow Zeek
//! (base/protocols/conn): `conn_state` is Zeek's decision function over Zeek-like
//! endpoint states, and the history letters are recorded as Zeek records them.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::decode::{Addr, Segment};
use crate::framing::{HttpFramer, TlsFramer, UNBOUNDED};
use crate::payload::{self, RequestFields, ResponseFields, MAX_HEAD_BYTES};

// Zeek's defaults: tcp_inactivity_timeout 5 min, tcp_close_delay 5 s.
pub const IDLE_TIMEOUT_NS: i128 = 300 * 1_000_000_000;
pub const CLOSE_DELAY_NS: i128 = 5 * 1_000_000_000;
// Release closed connections every 8192 packets or second of capture time, whichever
// comes first; look at every live connection for idleness every 10 s of capture time.
pub const SWEEP_EVERY: u32 = 1 << 13;
pub const SWEEP_INTERVAL_NS: i128 = 1_000_000_000;
pub const IDLE_SWEEP_INTERVAL_NS: i128 = 10 * SWEEP_INTERVAL_NS;
// Bounds whatever the input: a flood of SYNs, RSTs or FINs on one connection keeps the
// first MAX_KEPT - 1 and the latest and counts the rest; live half-open connections
// beyond MAX_HALF_OPEN are finalized oldest first; the history stops at MAX_HISTORY.
pub const MAX_KEPT: usize = 16;
pub const MAX_HALF_OPEN: usize = 50_000;
pub const MAX_HISTORY: usize = 200;
// The sweep clock ignores a jump forward of more than this (one packet stamped in
// 2106) until JUMP_CONFIRM packets beyond it show the capture's time really moved on.
pub const MAX_CLOCK_STEP_NS: i128 = 3600 * 1_000_000_000;
pub const JUMP_CONFIRM: u32 = 256;
pub const NEVER: i128 = -(1 << 62);
pub const EVERYTHING: i128 = 1 << 62;
pub const TICKET_MAX_BYTES: i64 = 512;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const ACK: u8 = 0x10;

// Zeek's TCP endpoint states (analyzer/protocol/tcp/TCP_Endpoint.h).
pub const INACTIVE: u8 = 0;
pub const SYN_SENT: u8 = 1;
pub const SYN_ACK_SENT: u8 = 2;
pub const PARTIAL: u8 = 3;
pub const ESTABLISHED: u8 = 4;
pub const CLOSED: u8 = 5;
pub const RESET: u8 = 6;

const M32: u32 = 0xFFFF_FFFF;

// History bits, one per letter, kept per endpoint.
const H_SYN: u8 = 1;
const H_SYNACK: u8 = 2;
const H_ACK: u8 = 4;
const H_DATA: u8 = 8;
const H_FIN: u8 = 16;
const H_RST: u8 = 32;
const H_MULTI: u8 = 64;
const H_FINRST: u8 = 128;

/// One decoded TCP segment as the tracker reads it: the decoder's fields (through
/// `Deref`), its captured payload and its TCP options as captured.
pub struct Seg<'a> {
    segment: &'a Segment,
    pub payload: &'a [u8],
    pub options: &'a [u8],
}

impl std::ops::Deref for Seg<'_> {
    type Target = Segment;
    fn deref(&self) -> &Segment {
        self.segment
    }
}

impl<'a> Seg<'a> {
    /// `bytes` holds the segment: the frame's bytes, or the datagram reassembled from
    /// fragments.
    pub fn of(segment: &'a Segment, bytes: &'a [u8]) -> Seg<'a> {
        let end = segment.captured_end.min(bytes.len());
        let payload_end = (segment.payload_at + segment.payload_len).min(end);
        let options_at = (segment.tcp_at + 20).min(end);
        Seg {
            segment,
            payload: &bytes[segment.payload_at.min(payload_end)..payload_end],
            options: &bytes[options_at..segment.payload_at.clamp(options_at, end)],
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PacketRef {
    pub frame: i64,
    pub ts_ns: i128,
    pub ttl: u8,
    pub ip_id: i32,
    pub seq: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResetRec {
    pub frame: i64,
    pub ts_ns: i128,
    pub sender: &'static str,
    pub phase: &'static str,
    pub ttl: u8,
    pub ip_id: i32,
    pub seq: u32,
}

/// A first message: the parser's fields, the frame holding its first byte, its time.
#[derive(Debug, Clone, PartialEq)]
pub struct Message<F> {
    pub fields: F,
    pub frame: i64,
    pub ts_ns: i128,
}

impl<F> From<(i64, i128, F)> for Message<F> {
    /// (frame, time, fields): a message where it was read.
    fn from((frame, ts_ns, fields): (i64, i128, F)) -> Self {
        Message {
            fields,
            frame,
            ts_ns,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertRec {
    pub frame: i64,
    pub ts_ns: i128,
    pub sender: &'static str,
    pub alert: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeRec {
    pub requests: i64,
    pub responses: i64,
    pub response_bytes: i128,
    pub response_expected: Option<i128>,
    pub problem: String,
    pub answer_frame: Option<i64>,
    pub answer_ts_ns: Option<i128>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DirectionRec {
    pub packets: u64,
    pub payload_bytes: u64,
    pub retransmitted_bytes: u64,
    pub fin_frames: Vec<i64>,
    pub last_ts_ns: Option<i128>,
    pub fin_ts_ns: Option<i128>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct TcpOptionsRec {
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_permitted: bool,
    pub sack_blocks: Vec<(u32, u32)>,
    pub tsval: Option<u32>,
    pub tsecr: Option<u32>,
    pub layout: String,
}

/// One connection attempt, as `model.Connection` holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: u64,
    pub client: (Addr, u16),
    pub server: (Addr, u16),
    pub client_isn: Option<u32>,
    pub server_isn: Option<u32>,
    pub first_frame: i64,
    pub last_frame: i64,
    pub first_ts_ns: i128,
    pub last_ts_ns: i128,
    pub conn_state: &'static str,
    pub history: String,
    pub syns: Vec<PacketRef>,
    pub synacks: Vec<PacketRef>,
    pub handshake_frame: Option<i64>,
    pub resets: Vec<ResetRec>,
    pub syn_options: Option<TcpOptionsRec>,
    pub synack_options: Option<TcpOptionsRec>,
    pub client_sent: DirectionRec,
    pub server_sent: DirectionRec,
    pub request: Option<Message<RequestFields>>,
    pub response: Option<Message<ResponseFields>>,
    pub tls_alerts: Vec<AlertRec>,
    pub gaps: u64,
    pub ended_by: &'static str,
    pub exchange: Option<ExchangeRec>,
    pub exchange_at_rst: Option<ExchangeRec>,
    pub omitted: Vec<(&'static str, u64)>,
}

/// What the tracker tells its reader, in order.
#[derive(Debug)]
pub enum Event {
    /// A connection ended.
    Finished(Box<Record>),
    /// The segment (by its index in the batch fed) belongs to this connection, in this
    /// direction: every segment with payload, a SYN, a FIN or a RST (`flows`).
    Tapped {
        id: u64,
        from_client: bool,
        index: usize,
    },
    /// Every record that ends by this capture time has been released.
    Released(i128),
}

enum Framer {
    Http(HttpFramer),
    Tls(TlsFramer),
}

/// A segment of the stream's start: (frame, ts_ns, payload).
type Stored = (i64, i128, Vec<u8>);

/// What one endpoint of a live connection has sent so far.
struct Half {
    state: u8,
    base: Option<u32>, // ISN, or the first sequence number seen - 1
    next_rel: i64,     // highest relative sequence number sent + 1
    holes: Vec<(i64, i64)>,
    packets: u64,
    payload_bytes: u64,
    retx_bytes: u64,
    fin_frames: Vec<i64>,
    fin_ts: Option<i128>,
    last_ts: Option<i128>,
    hist_bits: u8,
    last_syn: i64,
    last_fin: i64,
    last_rst: i64,
    last_ack: i64, // the last ACK number the fast path checked for gaps
    retx_count: u64,
    gap_count: u64,
    zero_windows: u64,
    // The stream's start, by relative sequence number, until it is parsed.
    head: Option<BTreeMap<i64, Stored>>,
    head_bytes: usize,
    head_buf: Vec<u8>, // the stream's bytes contiguous from its first
    head_first: (i64, i128),
    head_tries: u32,
    head_try_at: usize,
    head_done: bool,
    // In-order bytes up to `skip` may pass unseen; `granted` is what the framer allowed.
    framer: Option<Framer>,
    skip: i128,
    granted: i128,
}

impl Half {
    fn new() -> Half {
        Half {
            state: INACTIVE,
            base: None,
            next_rel: 0,
            holes: Vec::new(),
            packets: 0,
            payload_bytes: 0,
            retx_bytes: 0,
            fin_frames: Vec::new(),
            fin_ts: None,
            last_ts: None,
            hist_bits: 0,
            last_syn: -1,
            last_fin: -1,
            last_rst: -1,
            last_ack: -1,
            retx_count: 0,
            gap_count: 0,
            zero_windows: 0,
            head: None,
            head_bytes: 0,
            head_buf: Vec::new(),
            head_first: (0, 0),
            head_tries: 0,
            head_try_at: 0,
            head_done: false,
            framer: None,
            skip: UNBOUNDED,
            granted: UNBOUNDED,
        }
    }

    fn rel(&self, seq: u32) -> i64 {
        i64::from(seq.wrapping_sub(self.base.unwrap_or(0)) & M32)
    }

    /// The direction's record, its FIN frames taken (the half is done with).
    fn take_direction(&mut self) -> DirectionRec {
        DirectionRec {
            packets: self.packets,
            payload_bytes: self.payload_bytes,
            retransmitted_bytes: self.retx_bytes,
            fin_frames: std::mem::take(&mut self.fin_frames),
            last_ts_ns: self.last_ts,
            fin_ts_ns: self.fin_ts,
        }
    }
}

/// A connection being tracked, less its two endpoints (kept beside it, so both can
/// be borrowed with it).
struct Conn {
    id: u64,
    client: (Addr, u16),
    server: (Addr, u16),
    first_frame: i64,
    last_frame: i64,
    first_ts: i128,
    last_ts: i128,
    isn: Option<u32>,
    server_isn: Option<u32>,
    history: String,
    syns: Vec<PacketRef>,
    synacks: Vec<PacketRef>,
    syn_opts: Vec<u8>,
    synack_opts: Vec<u8>,
    handshake_frame: Option<i64>,
    resets: Vec<ResetRec>,
    request: Option<Message<RequestFields>>,
    response: Option<Message<ResponseFields>>,
    alerts: Vec<AlertRec>,
    methods: VecDeque<String>, // requests' methods, for their responses' framing
    rst_exchange: Option<ExchangeRec>,
    omitted: BTreeMap<&'static str, u64>,
    gaps: u64,
    tls: bool, // the client spoke TLS: look for cleartext alerts in data
    closing: bool,
}

struct Live {
    conn: Conn,
    client: Half,
    server: Half,
}

impl Live {
    fn new(id: u64, seg: &Seg<'_>, client_is_sender: bool) -> Live {
        let (client, server) = if client_is_sender {
            ((seg.src, seg.sport), (seg.dst, seg.dport))
        } else {
            ((seg.dst, seg.dport), (seg.src, seg.sport))
        };
        Live {
            conn: Conn {
                id,
                client,
                server,
                first_frame: seg.frame,
                last_frame: seg.frame,
                first_ts: seg.ts_ns,
                last_ts: seg.ts_ns,
                isn: None,
                server_isn: None,
                history: if client_is_sender {
                    String::new()
                } else {
                    "^".to_string()
                },
                syns: Vec::new(),
                synacks: Vec::new(),
                syn_opts: Vec::new(),
                synack_opts: Vec::new(),
                handshake_frame: None,
                resets: Vec::new(),
                request: None,
                response: None,
                alerts: Vec::new(),
                methods: VecDeque::new(),
                rst_exchange: None,
                omitted: BTreeMap::new(),
                gaps: 0,
                tls: false,
                closing: false,
            },
            client: Half::new(),
            server: Half::new(),
        }
    }

    fn closed(&self) -> bool {
        let (c, s) = (self.client.state, self.server.state);
        c == RESET || s == RESET || (c == CLOSED && s == CLOSED)
    }

    /// The connection and its endpoints as (sender, receiver) of a segment.
    fn sides(&mut self, from_client: bool) -> (&mut Conn, &mut Half, &mut Half) {
        if from_client {
            (&mut self.conn, &mut self.client, &mut self.server)
        } else {
            (&mut self.conn, &mut self.server, &mut self.client)
        }
    }
}

type FlowKey = (Addr, u16, Addr, u16);
/// The per-packet tables hash with foldhash: several times faster than SipHash on
/// these short keys, and seeded at random per table, so a capture cannot be made to
/// collide for every run (the 4-tuples are the sender's to choose).
type Table<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A live connection's place: its id and its slot in `Slots`.
type Place = (u64, u32);

/// Where a 4-tuple's packets go: the connection's place, and whether they are its
/// client's.
#[derive(Clone, Copy)]
struct Flow {
    id: u64,
    slot: u32,
    from_client: bool,
}

/// The live connections, each in a slot: a flow's entry names the slot, so a packet
/// finds its connection with the one lookup of its 4-tuple (a second table, by id,
/// cost every packet a second lookup and its cache misses). A slot is used again once
/// freed; the id it holds tells a place's connection from a later one in its slot.
#[derive(Default)]
struct Slots {
    slots: Vec<Option<Box<Live>>>, // boxed: a live connection is about 2 KB
    free: Vec<u32>,
    count: usize,
}

impl Slots {
    fn insert(&mut self, live: Box<Live>) -> u32 {
        self.count += 1;
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(live);
                slot
            }
            None => {
                self.slots.push(Some(live));
                // a u32: four billion live connections would hold 8 TB first
                (self.slots.len() - 1) as u32
            }
        }
    }

    fn get(&self, (id, slot): Place) -> Option<&Live> {
        let live = self.slots.get(slot as usize)?.as_deref()?;
        (live.conn.id == id).then_some(live)
    }

    fn get_mut(&mut self, (id, slot): Place) -> Option<&mut Live> {
        let live = self.slots.get_mut(slot as usize)?.as_deref_mut()?;
        (live.conn.id == id).then_some(live)
    }

    fn remove(&mut self, place: Place) -> Option<Box<Live>> {
        self.get(place)?;
        let live = self.slots[place.1 as usize].take()?;
        self.free.push(place.1);
        self.count -= 1;
        Some(live)
    }

    /// Every live connection's place, in the order they began (their ids').
    fn places(&self, keep: impl Fn(&Live) -> bool) -> Vec<Place> {
        let mut places: Vec<Place> = (0..self.slots.len() as u32)
            .filter_map(|slot| {
                let live = self.slots[slot as usize].as_deref()?;
                keep(live).then_some((live.conn.id, slot))
            })
            .collect();
        places.sort_unstable();
        places
    }
}

/// The tracker of one capture.
pub struct Tracker {
    flows: Table<FlowKey, Flow>,
    live: Slots,
    closing: Vec<Place>, // first closed first; entries of released ones skipped
    half_open: VecDeque<Place>,
    next_id: u64,
    countdown: u32,
    now: i128,
    jumps: u32,
    next_sweep: i128,
    next_idle_sweep: i128,
    idle_timeout_ns: i128,
    close_delay_ns: i128,
    tap: bool,
}

impl Tracker {
    pub fn new(idle_timeout_ns: i128, close_delay_ns: i128, tap: bool) -> Tracker {
        Tracker {
            flows: Table::default(),
            live: Slots::default(),
            closing: Vec::new(),
            half_open: VecDeque::new(),
            next_id: 1,
            countdown: SWEEP_EVERY,
            now: NEVER,
            jumps: 0,
            next_sweep: NEVER,
            next_idle_sweep: NEVER,
            idle_timeout_ns,
            close_delay_ns,
            tap,
        }
    }

    /// Connections alive now.
    pub fn live_count(&self) -> usize {
        self.live.count
    }

    /// Follow one segment; `index` names it in `Tapped` events. True if it was tapped.
    pub fn segment(&mut self, seg: &Seg<'_>, index: usize, out: &mut Vec<Event>) -> bool {
        let ts = seg.ts_ns;
        self.countdown -= 1;
        if ts >= self.next_sweep || self.countdown == 0 {
            self.clock(ts, out);
        }
        let key = (seg.src, seg.sport, seg.dst, seg.dport);
        let mut entry = self.flows.get(&key).copied();
        if let Some(Flow {
            id,
            slot,
            from_client,
        }) = entry
        {
            if seg.flags & 0x07 == 0 {
                if let Some(live) = self.live.get_mut((id, slot)) {
                    let (conn, half, peer) = live.sides(from_client);
                    if half.state == ESTABLISHED {
                        fast_packet(conn, half, peer, from_client, seg);
                        let tapped = self.tap && seg.payload_len != 0;
                        if tapped {
                            out.push(Event::Tapped {
                                id,
                                from_client,
                                index,
                            });
                        }
                        return tapped;
                    }
                }
            }
        }
        if let Some(flow) = entry {
            if seg.flags & 0x17 == SYN {
                let same = self
                    .live
                    .get((flow.id, flow.slot))
                    .is_some_and(|l| flow.from_client && l.conn.isn == Some(seg.seq));
                if !same {
                    // A new attempt on a used 4-tuple: a new connection (port reuse).
                    if let Some(live) = self.release((flow.id, flow.slot)) {
                        out.push(Event::Finished(Box::new(finish(live, "port_reuse"))));
                    }
                    entry = None;
                }
            }
        }
        let Flow {
            id,
            slot,
            from_client,
        } = match entry {
            Some(found) => found,
            None => {
                let id = self.next_id;
                self.next_id += 1;
                // Boxed at once: its 1.8 KB are not moved a second time
                let live = Box::new(Live::new(id, seg, seg.flags & 0x12 != SYN | ACK)); // SYN-ACK first: flip
                let client_key = (
                    live.conn.client.0,
                    live.conn.client.1,
                    live.conn.server.0,
                    live.conn.server.1,
                );
                let slot = self.live.insert(live);
                if seg.flags & 0x17 == SYN {
                    self.half_open.push_back((id, slot));
                    if self.half_open.len() > MAX_HALF_OPEN {
                        self.shed_half_open(out);
                    }
                }
                let flow = |from_client| Flow {
                    id,
                    slot,
                    from_client,
                };
                self.flows.insert(client_key, flow(true));
                self.flows.insert(
                    (client_key.2, client_key.3, client_key.0, client_key.1),
                    flow(false),
                );
                match self.flows.get(&key) {
                    Some(found) => *found,
                    None => return false, // unreachable: just inserted
                }
            }
        };
        let tapped = self.tap && (seg.payload_len != 0 || seg.flags & (SYN | FIN | RST) != 0);
        if tapped {
            out.push(Event::Tapped {
                id,
                from_client,
                index,
            });
        }
        let Some(live) = self.live.get_mut((id, slot)) else {
            return tapped;
        };
        {
            let (conn, half, peer) = live.sides(from_client);
            slow_packet(conn, half, peer, from_client, seg);
        }
        if seg.flags & (FIN | RST) != 0 && live.closed() && !live.conn.closing {
            live.conn.closing = true;
            self.closing.push((id, slot));
        }
        tapped
    }

    /// The sweep clock, and the sweep it is time for.
    fn clock(&mut self, ts: i128, out: &mut Vec<Event>) {
        self.countdown = SWEEP_EVERY;
        if ts > self.now {
            if self.now == NEVER || ts - self.now <= MAX_CLOCK_STEP_NS || self.jumps >= JUMP_CONFIRM
            {
                self.now = ts;
                self.jumps = 0;
            } else {
                self.jumps += 1; // a lone outlier must not make every connection look idle
            }
        } else if ts >= self.now - MAX_CLOCK_STEP_NS {
            self.jumps = 0;
        }
        let mut idle = 0;
        if self.now >= self.next_idle_sweep {
            idle = self.idle_timeout_ns;
            self.next_idle_sweep = self.now + IDLE_SWEEP_INTERVAL_NS;
        }
        self.next_sweep = self.now + SWEEP_INTERVAL_NS;
        self.sweep(idle, out);
        out.push(Event::Released(self.now));
    }

    /// Release closed connections after the close delay; with `idle_timeout_ns`
    /// (0: skip this part), also those idle that long.
    fn sweep(&mut self, idle_timeout_ns: i128, out: &mut Vec<Event>) {
        let now = self.now;
        let mut done = Vec::new();
        let mut still = Vec::with_capacity(self.closing.len());
        for &place in &self.closing {
            match self.live.get(place) {
                Some(live) if now - live.conn.last_ts > self.close_delay_ns => done.push(place),
                Some(_) => still.push(place),
                None => {}
            }
        }
        self.closing = still;
        if idle_timeout_ns != 0 {
            let idle = |l: &Live| !l.conn.closing && now - l.conn.last_ts > idle_timeout_ns;
            done.extend(self.live.places(idle)); // in the order they began
        }
        for place in done {
            if let Some(live) = self.release(place) {
                let ended_by = if live.closed() {
                    if live.conn.resets.is_empty() {
                        "fin"
                    } else {
                        "rst"
                    }
                } else {
                    "idle_timeout"
                };
                out.push(Event::Finished(Box::new(finish(live, ended_by))));
            }
        }
    }

    /// Too many connections that began with a bare SYN: finalize the oldest that are
    /// still only that (a SYN flood must not hold the machine's memory).
    fn shed_half_open(&mut self, out: &mut Vec<Event>) {
        while self.half_open.len() > MAX_HALF_OPEN {
            let Some(place) = self.half_open.pop_front() else {
                break;
            };
            let answered = match self.live.get(place) {
                None => true,
                Some(live) => !live.conn.synacks.is_empty() || live.server.packets != 0,
            };
            if answered {
                continue; // ended, or answered since: not half-open
            }
            if let Some(live) = self.release(place) {
                out.push(Event::Finished(Box::new(finish(live, "half_open_limit"))));
            }
        }
    }

    fn release(&mut self, place: Place) -> Option<Box<Live>> {
        let live = self.live.remove(place)?;
        let (c, s) = (live.conn.client, live.conn.server);
        self.flows.remove(&(c.0, c.1, s.0, s.1));
        self.flows.remove(&(s.0, s.1, c.0, c.1));
        Some(live)
    }

    /// The end of the capture: every connection still live, in the order they began.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        for place in self.live.places(|_| true) {
            if let Some(live) = self.release(place) {
                let ended_by = if live.closed() && live.conn.resets.is_empty() {
                    "fin"
                } else if !live.conn.resets.is_empty() {
                    "rst"
                } else {
                    "end_of_capture"
                };
                out.push(Event::Finished(Box::new(finish(live, ended_by))));
            }
        }
        self.closing.clear();
        self.half_open.clear();
        out.push(Event::Released(EVERYTHING));
    }
}

fn letter(from_client: bool, upper: char) -> char {
    if from_client {
        upper
    } else {
        upper.to_ascii_lowercase()
    }
}

/// An established connection, no SYN/FIN/RST: most packets.
fn fast_packet(
    conn: &mut Conn,
    half: &mut Half,
    peer: &mut Half,
    from_client: bool,
    seg: &Seg<'_>,
) {
    conn.last_frame = seg.frame;
    conn.last_ts = seg.ts_ns;
    half.last_ts = Some(seg.ts_ns);
    half.packets += 1;
    let pl = seg.payload_len;
    if pl != 0 {
        if half.hist_bits & H_DATA == 0 {
            half.hist_bits |= H_DATA;
            conn.history.push(letter(from_client, 'D'));
        }
        let rel = half.rel(seg.seq);
        if rel == half.next_rel && half.head_done && (pl as i128) <= half.skip && !conn.tls {
            half.payload_bytes += pl as u64; // in order, the stream's start parsed, a body
            half.next_rel = rel + pl as i64;
            half.skip -= pl as i128;
        } else {
            data(conn, half, from_client, seg, seg.seq);
        }
    } else if half.hist_bits & H_ACK == 0 && seg.flags & ACK != 0 {
        half.hist_bits |= H_ACK;
        conn.history.push(letter(from_client, 'A'));
    }
    if seg.win == 0 {
        log_letter(conn, half, from_client, 'W');
    }
    // The same ACK number again cannot reveal a new gap: the peer's next_rel only
    // grows, and a hole opened since lies beyond what this ACK covers.
    if seg.flags & ACK != 0 && i64::from(seg.ack) != half.last_ack && peer.base.is_some() {
        half.last_ack = i64::from(seg.ack);
        let ack_rel = peer.rel(seg.ack);
        if ack_rel > peer.next_rel || !peer.holes.is_empty() {
            check_ack(conn, peer, !from_client, ack_rel);
        }
    }
}

/// Any packet the fast path does not take: handshake, close, reset, midstream.
fn slow_packet(
    conn: &mut Conn,
    half: &mut Half,
    peer: &mut Half,
    from_client: bool,
    seg: &Seg<'_>,
) {
    let flags = seg.flags;
    conn.last_frame = seg.frame;
    conn.last_ts = seg.ts_ns;
    half.last_ts = Some(seg.ts_ns);
    half.packets += 1;
    if flags & 0x07 == 0 {
        if seg.payload_len != 0 {
            if half.hist_bits & H_DATA == 0 {
                half.hist_bits |= H_DATA;
                conn.history.push(letter(from_client, 'D'));
            }
            data(conn, half, from_client, seg, seg.seq);
        } else if flags & ACK != 0 && half.hist_bits & H_ACK == 0 {
            half.hist_bits |= H_ACK;
            conn.history.push(letter(from_client, 'A'));
        }
        if half.state == INACTIVE {
            half.state = PARTIAL;
        } else if flags & ACK != 0
            && matches!(half.state, SYN_SENT | SYN_ACK_SENT)
            && matches!(peer.state, SYN_SENT | SYN_ACK_SENT | ESTABLISHED)
        {
            half.state = ESTABLISHED;
            peer.state = ESTABLISHED;
            if conn.handshake_frame.is_none() && from_client {
                conn.handshake_frame = Some(seg.frame);
            }
        }
        if seg.win == 0 {
            log_letter(conn, half, from_client, 'W');
        }
    } else {
        control(conn, half, peer, from_client, seg);
        if seg.payload_len != 0 {
            // data on a SYN (TCP Fast Open) starts after the SYN's own number
            let start = if flags & SYN != 0 {
                seg.seq.wrapping_add(1)
            } else {
                seg.seq
            };
            data(conn, half, from_client, seg, start);
        }
    }
    if flags & ACK != 0 && peer.base.is_some() {
        let ack_rel = peer.rel(seg.ack);
        check_ack(conn, peer, !from_client, ack_rel);
    }
}

/// The peer's bytes acknowledged but never captured are a content gap.
fn check_ack(conn: &mut Conn, peer: &mut Half, peer_is_client: bool, ack_rel: i64) {
    if ack_rel > peer.next_rel && ack_rel - peer.next_rel < 0x4000_0000 {
        if peer.next_rel > 0 || peer.packets != 0 {
            gap(conn, peer, peer_is_client);
        }
        peer.next_rel = ack_rel;
    } else if !peer.holes.is_empty() {
        let holes = std::mem::take(&mut peer.holes);
        for (start, end) in holes {
            if ack_rel >= end {
                gap(conn, peer, peer_is_client);
            } else {
                peer.holes.push((start, end));
            }
        }
    }
}

fn gap(conn: &mut Conn, half: &mut Half, from_client: bool) {
    conn.gaps += 1;
    log_letter(conn, half, from_client, 'G');
}

/// Zeek's logarithmic letters: recorded at the 1st, 10th, 100th, ... occurrence.
fn log_letter(conn: &mut Conn, half: &mut Half, from_client: bool, upper: char) {
    let counter = match upper {
        'T' => &mut half.retx_count,
        'G' => &mut half.gap_count,
        _ => &mut half.zero_windows,
    };
    *counter += 1;
    let mut n = *counter;
    while n >= 10 && n % 10 == 0 {
        n /= 10;
    }
    if n == 1 {
        conn.history.push(letter(from_client, upper));
    }
}

/// Zeek's CheckHistory: add the letter the first time; true if it was seen before.
fn once(conn: &mut Conn, half: &mut Half, bit: u8, code: char) -> bool {
    if half.hist_bits & bit != 0 {
        return true;
    }
    half.hist_bits |= bit;
    conn.history.push(code);
    false
}

/// Append, up to MAX_KEPT entries: then the last entry is always the latest, and what
/// it replaced is counted as left out.
fn keep<T>(
    omitted: &mut BTreeMap<&'static str, u64>,
    kept: &mut Vec<T>,
    item: T,
    name: &'static str,
) {
    if kept.len() < MAX_KEPT {
        kept.push(item);
        return;
    }
    if let Some(last) = kept.last_mut() {
        *last = item;
    }
    *omitted.entry(name).or_insert(0) += 1;
}

/// A packet with SYN, FIN or RST: history letters, endpoint state, evidence.
fn control(conn: &mut Conn, half: &mut Half, peer: &mut Half, from_client: bool, seg: &Seg<'_>) {
    let (flags, seq) = (seg.flags, seg.seq);
    let reference = PacketRef {
        frame: seg.frame,
        ts_ns: seg.ts_ns,
        ttl: seg.ttl,
        ip_id: seg.ip_id,
        seq,
    };
    let bits = u8::from(flags & SYN != 0) + u8::from(flags & FIN != 0) + u8::from(flags & RST != 0);
    if bits > 1 {
        if flags & FIN != 0 && flags & RST != 0 {
            once(conn, half, H_FINRST, letter(from_client, 'I'));
        } else {
            once(conn, half, H_MULTI, letter(from_client, 'Q'));
        }
    }
    if flags & SYN != 0 {
        if bits == 1 {
            let (bit, code) = if flags & ACK != 0 {
                (H_SYNACK, letter(from_client, 'H'))
            } else {
                (H_SYN, letter(from_client, 'S'))
            };
            if once(conn, half, bit, code)
                && i64::from(seq) != half.last_syn
                && conn.history.len() < MAX_HISTORY
            {
                conn.history.push(code); // bounded: floods
            }
            half.last_syn = i64::from(seq);
        }
        if half.base.is_none() || matches!(half.state, INACTIVE | PARTIAL) {
            half.base = Some(seq);
            half.next_rel = half.next_rel.max(1);
        }
        if flags & ACK != 0 {
            keep(&mut conn.omitted, &mut conn.synacks, reference, "synacks");
            if conn.server_isn.is_none() {
                conn.server_isn = Some(seq);
                conn.synack_opts = seg.options.to_vec();
            }
            if matches!(half.state, INACTIVE | PARTIAL | SYN_SENT) {
                half.state = SYN_ACK_SENT;
            }
        } else {
            keep(&mut conn.omitted, &mut conn.syns, reference, "syns");
            if conn.isn.is_none() {
                conn.isn = Some(seq);
                conn.syn_opts = seg.options.to_vec();
            }
            if matches!(half.state, INACTIVE | PARTIAL) {
                half.state = SYN_SENT;
            }
        }
    }
    if flags & FIN != 0 {
        if half.base.is_none() {
            half.base = Some(seq.wrapping_sub(1));
        }
        let rel_end = half.rel(seq) + seg.payload_len as i64;
        if bits == 1 {
            let code = letter(from_client, 'F');
            if once(conn, half, H_FIN, code)
                && rel_end != half.last_fin
                && conn.history.len() < MAX_HISTORY
            {
                conn.history.push(code); // a flood of new sequence numbers
            }
            half.last_fin = rel_end;
        }
        let name = if from_client {
            "client_fins"
        } else {
            "server_fins"
        };
        keep(&mut conn.omitted, &mut half.fin_frames, seg.frame, name);
        if half.fin_ts.is_none() {
            half.fin_ts = Some(seg.ts_ns);
        }
        if half.state != RESET {
            half.state = CLOSED;
        }
        if rel_end + 1 > half.next_rel {
            half.next_rel = rel_end + 1;
        }
    }
    if flags & RST != 0 {
        if bits == 1 {
            let code = letter(from_client, 'R');
            if once(conn, half, H_RST, code)
                && i64::from(seq) != half.last_rst
                && conn.history.len() < MAX_HISTORY
            {
                conn.history.push(code); // a flood of new sequence numbers
            }
            half.last_rst = i64::from(seq);
        }
        let (client_bytes, server_bytes) = if from_client {
            (half.payload_bytes, peer.payload_bytes)
        } else {
            (peer.payload_bytes, half.payload_bytes)
        };
        let phase = if conn.handshake_frame.is_none()
            && peer.state != ESTABLISHED
            && half.state != ESTABLISHED
        {
            "handshake"
        } else if server_bytes != 0 {
            "after_response"
        } else if client_bytes != 0 {
            "after_request"
        } else {
            "established"
        };
        if !from_client && conn.rst_exchange.is_none() {
            // the server's endpoint is `half`, the client's `peer`
            conn.rst_exchange = exchange(conn, peer, half);
        }
        let reset = ResetRec {
            frame: seg.frame,
            ts_ns: seg.ts_ns,
            sender: if from_client { "client" } else { "server" },
            phase,
            ttl: seg.ttl,
            ip_id: seg.ip_id,
            seq,
        };
        keep(&mut conn.omitted, &mut conn.resets, reset, "resets");
        half.state = RESET;
    }
}

/// Payload: bytes, retransmissions, holes, the stream's first message, TLS alerts,
/// message framing.
fn data(conn: &mut Conn, half: &mut Half, from_client: bool, seg: &Seg<'_>, seq: u32) {
    let pl = seg.payload_len as i64;
    half.payload_bytes += seg.payload_len as u64;
    if half.base.is_none() {
        // midstream: the first byte we see is relative 1
        half.base = Some(seq.wrapping_sub(1));
        half.next_rel = 1;
    }
    let rel = half.rel(seq);
    let rel_end = rel + pl;
    if half.framer.is_some() && half.head_done && rel_end > half.next_rel {
        let next_rel = half.next_rel;
        frame(conn, half, seg, rel, next_rel);
    }
    if rel_end <= half.next_rel {
        if half.holes.is_empty() || !fill(half, rel, rel_end) {
            half.retx_bytes += seg.payload_len as u64;
            log_letter(conn, half, from_client, 'T');
        }
    } else {
        if rel > half.next_rel {
            if half.holes.len() < 16 {
                half.holes.push((half.next_rel, rel));
            }
        } else if rel < half.next_rel {
            half.retx_bytes += (half.next_rel - rel) as u64;
        }
        half.next_rel = rel_end;
    }
    if !half.head_done && rel < MAX_HEAD_BYTES as i64 {
        collect_head(
            conn,
            half,
            from_client,
            rel,
            seg.frame,
            seg.ts_ns,
            seg.payload,
        );
    }
    if conn.tls && seg.payload.first() == Some(&0x15) {
        let alert = payload::tls_alert(&seg.payload[..seg.payload.len().min(7)]);
        if !alert.is_empty() {
            let record = AlertRec {
                frame: seg.frame,
                ts_ns: seg.ts_ns,
                sender: if from_client { "client" } else { "server" },
                alert,
            };
            keep(&mut conn.omitted, &mut conn.alerts, record, "tls_alerts");
        }
    }
}

/// New in-order bytes for the framer; a hole (or bytes the snaplen cut) loses it.
fn frame(conn: &mut Conn, half: &mut Half, seg: &Seg<'_>, rel: i64, next_rel: i64) {
    if rel > next_rel || seg.payload.len() < seg.payload_len {
        if let Some(framer) = half.framer.as_mut() {
            lose(framer);
        }
        half.skip = UNBOUNDED;
        half.granted = UNBOUNDED;
        return;
    }
    sync(half);
    let from = usize::try_from(next_rel - rel)
        .unwrap_or(usize::MAX)
        .min(seg.payload.len());
    let new = &seg.payload[from..];
    let allowed = match half.framer.as_mut() {
        Some(Framer::Http(http)) => http.feed(new, &mut conn.methods),
        Some(Framer::Tls(tls)) => tls.feed(new, seg.frame, seg.ts_ns),
        None => return,
    };
    half.skip = allowed;
    half.granted = allowed;
}

fn lose(framer: &mut Framer) {
    match framer {
        Framer::Http(http) => http.lose(),
        Framer::Tls(tls) => tls.lose(),
    }
}

/// Tell the framer what the fast path counted off since it last allowed it.
fn sync(half: &mut Half) {
    if half.granted != half.skip {
        let n = half.granted - half.skip;
        match half.framer.as_mut() {
            Some(Framer::Http(http)) => http.skipped(n),
            Some(Framer::Tls(tls)) => tls.skipped(n),
            None => return,
        }
        half.granted = half.skip;
    }
}

/// Out-of-order data into a hole; true if it filled any part of one.
fn fill(half: &mut Half, rel: i64, rel_end: i64) -> bool {
    let mut filled = false;
    let mut out = Vec::with_capacity(half.holes.len() + 1);
    for &(start, end) in &half.holes {
        if rel_end <= start || rel >= end {
            out.push((start, end));
            continue;
        }
        filled = true;
        if rel > start {
            out.push((start, rel));
        }
        if rel_end < end {
            out.push((rel_end, end));
        }
    }
    half.holes = out;
    filled
}

/// Keep the stream's start until its first message can be read: the segments by
/// sequence number, and the bytes contiguous from the first as one growing buffer,
/// parsed again only when new bytes could complete the message.
#[allow(clippy::too_many_arguments)]
fn collect_head(
    conn: &mut Conn,
    half: &mut Half,
    from_client: bool,
    rel: i64,
    frame: i64,
    ts: i128,
    payload: &[u8],
) {
    let head = half.head.get_or_insert_with(BTreeMap::new);
    if head.contains_key(&rel) || payload.is_empty() {
        return;
    }
    let first = rel == 1 && head.is_empty() && half.head_buf.is_empty();
    if first
        && payload.len() < MAX_HEAD_BYTES
        && whole_first_message(conn, half, from_client, frame, ts, payload)
    {
        return;
    }
    let head = half.head.get_or_insert_with(BTreeMap::new);
    if half.head_bytes >= 2 * MAX_HEAD_BYTES {
        // overlapping junk: read what there is
        parse_head(conn, half, from_client, true);
        return;
    }
    head.insert(rel, (frame, ts, payload.to_vec()));
    half.head_bytes += payload.len();
    let grown = grow_head(half, rel, payload);
    if half.head_bytes >= MAX_HEAD_BYTES && half.head_buf.len() >= MAX_HEAD_BYTES {
        parse_head(conn, half, from_client, true);
    } else if let Some(new_from) = grown {
        if worth_parsing(half, new_from) {
            parse_head(conn, half, from_client, false);
        }
    }
}

/// The stream's first segment, from its first byte, holding its whole first message
/// (nearly every request and answer): parsed where it lies, with what storing it and
/// `parse_head` would leave, nothing stored. False, and nothing changed, otherwise.
fn whole_first_message(
    conn: &mut Conn,
    half: &mut Half,
    from_client: bool,
    frame: i64,
    ts: i128,
    payload: &[u8],
) -> bool {
    // not complete: what it set, the stored path sets again from the same bytes
    if !read_first(conn, payload, from_client, (frame, ts), false) {
        return false;
    }
    half.head_tries += 1;
    half.head_bytes += payload.len();
    half.head_first = (frame, ts);
    let end = 1 + payload.len() as i64;
    start_framer(conn, half, from_client, payload, 1, end, frame, ts);
    true
}

/// The stream's first message read from BLOB, its start: the request (a TLS record
/// type marks the connection TLS) or the answer; true if it is complete.
fn read_first(
    conn: &mut Conn,
    blob: &[u8],
    from_client: bool,
    (frame, ts): (i64, i128),
    fin: bool,
) -> bool {
    if from_client {
        conn.request = payload::parse_request(blob, fin).map(|f| Message::from((frame, ts, f)));
        if blob.first() == Some(&0x16) {
            conn.tls = true;
        }
        conn.request.is_some()
    } else {
        conn.response = payload::parse_response(blob, fin).map(|f| Message::from((frame, ts, f)));
        conn.response.is_some()
    }
}

/// Extend the contiguous buffer with this segment (and the stored ones it joins up
/// with); where in the buffer the new bytes start (three before, for a line end split
/// across segments), or None when it lies beyond a hole.
fn grow_head(half: &mut Half, rel: i64, payload: &[u8]) -> Option<usize> {
    let end = 1 + half.head_buf.len() as i64;
    if !(rel <= end && end < rel + payload.len() as i64) {
        return None;
    }
    let head = half.head.as_ref()?;
    let before = half.head_buf.len();
    if before == 0 {
        if let Some((frame, ts, _)) = head.get(&rel) {
            half.head_first = (*frame, *ts);
        }
    }
    half.head_buf
        .extend_from_slice(&payload[usize::try_from(end - rel).unwrap_or(0)..]);
    // Whole segments, so that framing can go on from the buffer's end: at most the
    // limit plus one segment.
    while half.head_buf.len() < MAX_HEAD_BYTES {
        match head.get(&(1 + half.head_buf.len() as i64)) {
            Some((_, _, stored)) => half.head_buf.extend_from_slice(stored),
            None => break,
        }
    }
    Some(before.saturating_sub(3))
}

/// Could the new bytes complete the first message? The first look always; then, for
/// TLS, once the record they belong to is whole; for anything else, at a line end.
fn worth_parsing(half: &Half, new_from: usize) -> bool {
    let buf = &half.head_buf;
    if half.head_tries == 0 {
        return true;
    }
    if buf.len() > 1 && (buf[0] == 0x15 || buf[0] == 0x16) && buf[1] == 3 {
        return buf.len() >= half.head_try_at;
    }
    buf.get(new_from..).is_some_and(|new| new.contains(&b'\n'))
}

/// Try to read the stream's first message from its start.
fn parse_head(conn: &mut Conn, half: &mut Half, from_client: bool, fin: bool) {
    let Some(head) = half.head.as_ref() else {
        return;
    };
    if head.is_empty() {
        return;
    }
    half.head_tries += 1;
    let (blob, start, pos, first_frame, first_ts);
    if !half.head_buf.is_empty() {
        // the start is here: the contiguous buffer holds it (lent, given back below
        // when the message is not complete yet)
        blob = std::mem::take(&mut half.head_buf);
        start = 1;
        pos = 1 + blob.len() as i64;
        (first_frame, first_ts) = half.head_first;
    } else if !fin {
        return; // the first segment is missing (so far)
    } else {
        // never captured: read from the first segment there is
        let (&first_rel, &(frame, ts, _)) = match head.iter().next() {
            Some(first) => first,
            None => return,
        };
        start = first_rel;
        (first_frame, first_ts) = (frame, ts);
        let mut joined = Vec::new();
        let mut at = start;
        for (&rel, (_, _, bytes)) in head {
            if rel > at {
                break;
            }
            if rel + bytes.len() as i64 > at {
                joined.extend_from_slice(&bytes[usize::try_from(at - rel).unwrap_or(0)..]);
                at = rel + bytes.len() as i64;
            }
        }
        pos = at;
        blob = joined;
    }
    let done = read_first(conn, &blob, from_client, (first_frame, first_ts), fin);
    if done || fin {
        start_framer(
            conn,
            half,
            from_client,
            &blob,
            start,
            pos,
            first_frame,
            first_ts,
        );
    } else {
        // not fin: the blob is the contiguous buffer (a joined one means fin)
        half.head_buf = blob;
        half.head_try_at = tls_record_end(&half.head_buf);
    }
}

/// Where the TLS record the buffer ends inside will be complete (bytes from the start).
fn tls_record_end(buf: &[u8]) -> usize {
    let mut pos = 0;
    while pos + 5 <= buf.len() {
        pos += 5 + usize::from(u16::from_be_bytes([buf[pos + 3], buf[pos + 4]]));
        if pos > buf.len() {
            return pos;
        }
    }
    pos + 5
}

/// The first message is read (or never will be): nothing more to gather; frame the
/// stream's messages from its first byte.
#[allow(clippy::too_many_arguments)]
fn start_framer(
    conn: &mut Conn,
    half: &mut Half,
    from_client: bool,
    blob: &[u8],
    start: i64,
    pos: i64,
    frame: i64,
    ts: i128,
) {
    half.head = None;
    half.head_buf = Vec::new();
    half.head_done = true;
    let mut kind = conn.request.as_ref().map_or("", |r| r.fields.0);
    if !from_client && kind != "http" && kind != "tls" {
        kind = if blob.starts_with(b"\x16\x03") || blob.starts_with(b"\x15\x03") {
            "tls"
        } else {
            ""
        };
    }
    let (mut framer, allowed) = match kind {
        "http" => {
            let mut http = HttpFramer::new(from_client);
            let allowed = http.feed(blob, &mut conn.methods);
            (Framer::Http(http), allowed)
        }
        "tls" => {
            let mut tls = TlsFramer::default();
            let allowed = tls.feed(blob, frame, ts);
            (Framer::Tls(tls), allowed)
        }
        _ => return,
    };
    half.skip = allowed;
    half.granted = allowed;
    if start != 1 || pos != half.next_rel {
        lose(&mut framer); // the first bytes, or some after them, were never captured
        half.skip = UNBOUNDED;
        half.granted = UNBOUNDED;
    }
    half.framer = Some(framer);
}

/// The connection's messages as its framers see them now.
fn exchange(conn: &Conn, c: &mut Half, s: &mut Half) -> Option<ExchangeRec> {
    sync(c);
    sync(s);
    match &c.framer {
        Some(Framer::Tls(client)) => {
            let tls13 = conn
                .response
                .as_ref()
                .is_some_and(|r| r.fields.3 == "TLS 1.3");
            let none = TlsFramer::default();
            let server = match &s.framer {
                Some(Framer::Tls(server)) => server,
                _ => &none,
            };
            Some(tls_exchange(client, server, tls13))
        }
        Some(Framer::Http(client)) => {
            let requests = client.messages + i64::from(client.message_bytes != 0);
            // The answer's problems are the server side's; of the client's, only a hole.
            let (mut responses, mut in_progress, mut expected) = (0, 0, None);
            let mut problem = if client.problem == "lost" {
                client.problem.clone()
            } else {
                String::new()
            };
            match &s.framer {
                Some(Framer::Http(server)) => {
                    let server_problem;
                    (responses, in_progress, expected, server_problem) = server.exchange_part();
                    if !server_problem.is_empty() {
                        problem = server_problem;
                    }
                }
                _ => {
                    if s.payload_bytes != 0
                        && conn.response.as_ref().is_some_and(|r| r.fields.0 != "http")
                    {
                        problem = "invalid: the answer is not an HTTP/1.x status line".to_string();
                    }
                }
            }
            Some(ExchangeRec {
                requests,
                responses,
                response_bytes: in_progress,
                response_expected: expected,
                problem,
                answer_frame: conn.response.as_ref().map(|r| r.frame),
                answer_ts_ns: conn.response.as_ref().map(|r| r.ts_ns),
            })
        }
        None => None,
    }
}

/// What the application data records say: the requests the client sent after its
/// Finished, and whether the server answered one (framing.py's `tls_exchange`: TLS
/// 1.3 sends the client's Finished as its first application data record, and the
/// server's session tickets, a run of two or more equal-length records of at most
/// TICKET_MAX_BYTES, right after it).
pub fn tls_exchange(client: &TlsFramer, server: &TlsFramer, tls13: bool) -> ExchangeRec {
    let skip = usize::from(tls13);
    let records = &client.app_records;
    let requests = (client.app_count - skip as i64).max(0);
    let request = records.get(skip);
    let mut after: Vec<(i64, i128, i64)> = server.app_records.clone();
    if tls13 {
        if let Some(finished) = records.first() {
            after.retain(|r| r.0 >= finished.0);
            let mut run = 0;
            while run < after.len() && after[run].2 == after[0].2 && after[0].2 <= TICKET_MAX_BYTES
            {
                run += 1;
            }
            if run >= 2 {
                after.drain(..run);
            }
        }
    }
    let first = request.and_then(|req| after.iter().find(|r| r.0 >= req.0));
    let problem = if client.problem.is_empty() {
        server.problem.clone()
    } else {
        client.problem.clone()
    };
    ExchangeRec {
        requests,
        responses: i64::from(first.is_some() && requests != 0),
        response_bytes: 0,
        response_expected: None,
        problem,
        answer_frame: first.map(|r| r.0),
        answer_ts_ns: first.map(|r| r.1),
    }
}

/// Freeze a live connection into its record.
fn finish(mut live: Box<Live>, ended_by: &'static str) -> Record {
    // Its parts taken where they lie, not the 1.8 KB connection moved out of its box
    // and its FIN frames and history copied (callgrind, one request per connection:
    // 6.5M instructions fewer over 11,035 records, half of them memcpy's).
    let Live {
        conn,
        client: c,
        server: s,
    } = &mut *live;
    if c.head.is_some() {
        parse_head(conn, c, true, true);
    }
    if s.head.is_some() {
        parse_head(conn, s, false, true);
    }
    let mut history = std::mem::take(&mut conn.history);
    if let Some((cut, _)) = history.char_indices().nth(MAX_HISTORY) {
        history.truncate(cut);
    }
    for half in [&mut *c, &mut *s] {
        if matches!(half.framer, Some(Framer::Http(_))) && !half.fin_frames.is_empty() {
            sync(half);
            if let Some(Framer::Http(http)) = half.framer.as_mut() {
                http.close(); // a response framed by the connection's close ends here
            }
        }
    }
    let exchange_now = exchange(conn, c, s);
    Record {
        id: conn.id,
        client: conn.client,
        server: conn.server,
        client_isn: conn.isn,
        server_isn: conn.server_isn,
        first_frame: conn.first_frame,
        last_frame: conn.last_frame,
        first_ts_ns: conn.first_ts,
        last_ts_ns: conn.last_ts,
        conn_state: conn_state(c.state, s.state, c.payload_bytes, s.payload_bytes, &history),
        history,
        syn_options: (!conn.syns.is_empty()).then(|| parse_tcp_options(&conn.syn_opts)),
        synack_options: (!conn.synacks.is_empty()).then(|| parse_tcp_options(&conn.synack_opts)),
        syns: std::mem::take(&mut conn.syns),
        synacks: std::mem::take(&mut conn.synacks),
        handshake_frame: conn.handshake_frame,
        resets: std::mem::take(&mut conn.resets),
        client_sent: c.take_direction(),
        server_sent: s.take_direction(),
        request: conn.request.take(),
        response: conn.response.take(),
        tls_alerts: std::mem::take(&mut conn.alerts),
        gaps: conn.gaps,
        ended_by,
        exchange: exchange_now,
        exchange_at_rst: conn.rst_exchange.take(),
        omitted: std::mem::take(&mut conn.omitted).into_iter().collect(),
    }
}

/// `^?S[^HAFGIQ]*R.*`, the whole history: a SYN, then a RST before anything else.
fn rst_after_syn_only(history: &str) -> bool {
    let h = history.strip_prefix('^').unwrap_or(history);
    let Some(rest) = h.strip_prefix('S') else {
        return false;
    };
    rest.chars().find(|c| "HAFGIQR".contains(*c)) == Some('R')
}

/// Zeek's conn_state (base/protocols/conn/main.zeek), from endpoint states.
pub fn conn_state(os: u8, rs: u8, orig_bytes: u64, resp_bytes: u64, history: &str) -> &'static str {
    let o_inactive = matches!(os, INACTIVE | PARTIAL);
    let r_inactive = matches!(rs, INACTIVE | PARTIAL);
    if rs == RESET {
        if matches!(os, SYN_SENT | SYN_ACK_SENT)
            || (os == RESET && orig_bytes == 0 && resp_bytes == 0)
        {
            return "REJ";
        }
        return if o_inactive { "RSTRH" } else { "RSTR" };
    }
    if os == RESET {
        if r_inactive {
            return if rst_after_syn_only(history) {
                "RSTOS0"
            } else {
                "OTH"
            };
        }
        return "RSTO";
    }
    if rs == CLOSED && os == CLOSED {
        return "SF";
    }
    if os == CLOSED {
        return if r_inactive { "SH" } else { "S2" };
    }
    if rs == CLOSED {
        return if o_inactive { "SHR" } else { "S3" };
    }
    if os == SYN_SENT && rs == INACTIVE {
        return "S0";
    }
    if os == ESTABLISHED && rs == ESTABLISHED {
        return "S1";
    }
    "OTH"
}

/// Raw TCP options (RFC 9293 3.1, RFC 7323, RFC 2018); never fails.
pub fn parse_tcp_options(raw: &[u8]) -> TcpOptionsRec {
    let mut out = TcpOptionsRec::default();
    // the options' letters, comma-separated, written in place: a String per option
    // and a join were most of this function's cost, twice a connection
    let mut layout = String::with_capacity(16);
    fn mark(layout: &mut String, letter: &str) {
        if !layout.is_empty() {
            layout.push(',');
        }
        layout.push_str(letter);
    }
    let (mut pos, end) = (0, raw.len());
    while pos < end {
        let kind = raw[pos];
        if kind == 0 {
            mark(&mut layout, "E");
            break;
        }
        if kind == 1 {
            mark(&mut layout, "N");
            pos += 1;
            continue;
        }
        if pos + 1 >= end {
            break;
        }
        let length = usize::from(raw[pos + 1]);
        if length < 2 || pos + length > end {
            mark(&mut layout, "?");
            break;
        }
        let value = &raw[pos + 2..pos + length];
        let be32 = |v: &[u8]| u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
        match (kind, length) {
            (2, 4) => {
                out.mss = Some(u16::from_be_bytes([value[0], value[1]]));
                mark(&mut layout, "M");
            }
            (3, 3) => {
                out.wscale = Some(value[0]);
                mark(&mut layout, "W");
            }
            (4, 2) => {
                out.sack_permitted = true;
                mark(&mut layout, "S");
            }
            (5, _) if (length - 2) % 8 == 0 => {
                for block in value.chunks_exact(8) {
                    out.sack_blocks.push((be32(&block[..4]), be32(&block[4..])));
                }
                mark(&mut layout, "K");
            }
            (8, 10) => {
                out.tsval = Some(be32(&value[..4]));
                out.tsecr = Some(be32(&value[4..]));
                mark(&mut layout, "T");
            }
            _ => mark(&mut layout, itoa::Buffer::new().format(kind)),
        }
        pos += length;
    }
    out.layout = layout;
    out
}
