//! Stage 2, decode: one frame's bytes -> one TCP segment, or a count, an anomaly or
//! an ICMP error about a TCP packet. One path for every frame (no fast/careful split):
//! the rules, words and anomaly codes of the Python decoder it replaced (kept as
//! tests/decode_reference.py and held to this one by the tests).
//!
//! Link types: Ethernet (802.1Q/802.1ad/QinQ tags, PPPoE sessions, MPLS), Linux
//! cooked SLL and SLL2, raw IP, BSD NULL and LOOP, NFLOG, IP over InfiniBand. IPv4 with
//! options and fragments (TCP in fragments is reassembled, bounded, and reported at
//! the last fragment as Wireshark does), IPv6 with extension headers and fragments.
//! Payload length comes from the IP header, never from the captured length. Checksums
//! are never checked (DESIGN.md, "Checksum offload").
//!
//! Hand-written rather than on a decoder crate: the anomaly codes and their one-line
//! details are part of the output (and of the golden files), TSO's zero IPv4 length,
//! NFLOG's TLVs, IPoIB and SLL2 are outside what the crates decode, and every read is
//! a checked `get`, so no input can panic.

use std::collections::{BTreeMap, HashMap};

pub const MAX_PENDING_FRAGMENTS: usize = 256; // datagrams being reassembled at once
pub const MAX_DATAGRAM_BYTES: usize = 65_535 + 8;

/// One link-type table: the number, its name, and whether it is decoded.
pub const LINKTYPES: [(i64, &str, bool); 19] = [
    (0, "NULL", true),
    (1, "ETHERNET", true),
    (12, "RAW", true),
    (14, "RAW", true),
    (101, "RAW", true),
    (108, "LOOP", true),
    (113, "LINUX_SLL", true),
    (228, "IPV4", true),
    (229, "IPV6", true),
    (276, "LINUX_SLL2", true),
    (239, "NFLOG", true),
    (242, "IPOIB", true),
    (105, "IEEE802_11", false),
    (127, "IEEE802_11_RADIOTAP", false),
    (253, "NETLINK", false),
    (220, "USB_LINUX_MMAPPED", false),
    (9, "PPP", false),
    (50, "PPP_HDLC", false),
    (192, "PPI", false),
];

pub fn linktype_name(linktype: i64) -> &'static str {
    LINKTYPES
        .iter()
        .find(|(number, _, _)| *number == linktype)
        .map_or("unknown", |(_, name, _)| name)
}

// ICMP errors that quote the packet they are about (RFC 792, RFC 4443): (type, code)
// -> what happened to it; a type's own entry (code None) covers its other codes.
const ICMP4_ERRORS: [((u8, Option<u8>), &str); 12] = [
    ((3, Some(0)), "network unreachable"),
    ((3, Some(1)), "host unreachable"),
    ((3, Some(2)), "protocol unreachable"),
    ((3, Some(3)), "port unreachable"),
    ((3, Some(4)), "fragmentation needed"),
    ((3, Some(9)), "network administratively prohibited"),
    ((3, Some(10)), "host administratively prohibited"),
    ((3, Some(13)), "communication administratively prohibited"),
    ((3, None), "destination unreachable"),
    ((11, Some(0)), "TTL exceeded in transit"),
    ((11, None), "time exceeded"),
    ((12, None), "parameter problem"),
];
const ICMP6_ERRORS: [((u8, Option<u8>), &str); 11] = [
    ((1, Some(0)), "no route to destination"),
    ((1, Some(1)), "administratively prohibited"),
    ((1, Some(3)), "address unreachable"),
    ((1, Some(4)), "port unreachable"),
    ((1, Some(5)), "source address failed policy"),
    ((1, Some(6)), "reject route"),
    ((1, None), "destination unreachable"),
    ((2, None), "packet too big"),
    ((3, Some(0)), "hop limit exceeded in transit"),
    ((3, None), "time exceeded"),
    ((4, None), "parameter problem"),
];

/// The decoder's own word for an ICMP error's kind, if TEXT is one.
pub fn icmp_kind_named(text: &str) -> Option<&'static str> {
    ICMP4_ERRORS
        .iter()
        .chain(&ICMP6_ERRORS)
        .map(|&(_, name)| name)
        .find(|name| *name == text)
}

fn icmp_kind(version: u8, icmp_type: u8, code: u8) -> Option<&'static str> {
    let table: &[((u8, Option<u8>), &str)] = if version == 4 {
        &ICMP4_ERRORS
    } else {
        &ICMP6_ERRORS
    };
    let find = |key: (u8, Option<u8>)| table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    find((icmp_type, Some(code))).or_else(|| find((icmp_type, None)))
}

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86DD;
const VLAN_TAGS: [u16; 4] = [0x8100, 0x88A8, 0x9100, 0x9200];
const IPV6_EXT_HEADERS: [u8; 6] = [0, 43, 60, 135, 139, 140]; // the (len + 1) * 8 kind
const AF_INET6: [u32; 4] = [10, 24, 28, 30]; // Linux, NetBSD/OpenBSD, FreeBSD, macOS

/// An IPv4 (4 bytes) or IPv6 (16 bytes) address as it sits on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Addr {
    bytes: [u8; 16], // zero past `len`
    len: u8,
}

impl std::hash::Hash for Addr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // One 128-bit word and the length: the derived hash wrote the array as a slice
        // (its length, then its bytes), and a 4-tuple's lookup, once a packet, took
        // about 100 instructions.
        state.write_u128(u128::from_le_bytes(self.bytes));
        state.write_u8(self.len);
    }
}

impl Addr {
    pub fn from_slice(slice: &[u8]) -> Addr {
        Addr::from(slice)
    }

    fn from(slice: &[u8]) -> Addr {
        let mut bytes = [0u8; 16];
        let len = slice.len().min(16);
        bytes[..len].copy_from_slice(&slice[..len]);
        Addr {
            bytes,
            len: len as u8,
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// Where a segment's bytes are: in the frame it came in (offsets relative to the
/// frame's first byte), or in the datagram reassembled from fragments.
#[derive(Debug, Clone, PartialEq)]
pub enum Bytes {
    Frame,
    Reassembled(Vec<u8>),
}

/// One decoded TCP segment: the fields later stages use.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub frame: i64,
    pub ts_ns: i128, // past 2262 from a bogus pcapng timestamp: wider than i64
    pub src: Addr,
    pub sport: u16,
    pub dst: Addr,
    pub dport: u16,
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    pub win: u16,
    pub payload_len: usize, // from the IP header, not from what was captured
    pub ttl: u8,
    pub ip_id: i32, // -1 for IPv6
    pub bytes: Bytes,
    pub tcp_at: usize,
    pub payload_at: usize,
    pub captured_end: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    pub frame: i64,
    pub code: &'static str,
    pub detail: String,
}

/// An ICMP(v6) error quoting a TCP packet: which connection it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct IcmpError {
    pub frame: i64,
    pub ts_ns: i128, // past 2262 from a bogus pcapng timestamp: wider than i64
    pub sender: Addr,
    pub kind: &'static str,
    pub mtu: Option<u32>,
    pub src: Addr,
    pub sport: u16,
    pub dst: Addr,
    pub dport: u16,
    pub seq: u32,
}

/// What decoding found besides segments, in frame order.
#[derive(Debug, Default)]
pub struct Tally {
    pub tcp_packets: u64,
    pub non_tcp_packets: u64,
    pub ip_fragments: i64, // fragments held (a datagram's last one becomes the packet)
    pub anomalies: Vec<Anomaly>,
    pub icmp_errors: Vec<IcmpError>,
}

impl Tally {
    fn anomaly(&mut self, frame: i64, code: &'static str, detail: impl Into<String>) {
        self.anomalies.push(Anomaly {
            frame,
            code,
            detail: detail.into(),
        });
    }
}

/// A classic pcap has one link type: one the decoder does not know is an error for
/// the whole file, not an anomaly of each frame.
#[derive(Debug, PartialEq)]
pub struct UnsupportedLinkType(pub i64);

enum Bad {
    Malformed(&'static str, String),
    Unsupported(i64),
}

type Step<T> = Result<T, Bad>;

#[inline]
fn need(data: &[u8], length: usize, code: &'static str, what: &str) -> Step<()> {
    if data.len() < length {
        return cut_short(data.len(), length, code, what);
    }
    Ok(())
}

/// `need`'s error: out of line, so the check stays a compare where it is inlined.
#[cold]
#[inline(never)]
fn cut_short(have: usize, length: usize, code: &'static str, what: &str) -> Step<()> {
    Err(Bad::Malformed(
        code,
        format!("{what} ({have} of {length} bytes captured)"),
    ))
}

/// The fixed `N` bytes of a header at `at`, once checked: its fields are then read
/// from the array with no check each. `need` has said they were captured.
#[inline]
fn fixed<const N: usize>(data: &[u8], at: usize) -> Step<&[u8; N]> {
    match data.get(at..).and_then(|rest| rest.first_chunk::<N>()) {
        Some(header) => Ok(header),
        None => past_end(at.max(data.len()), data.len()),
    }
}

/// A big-endian u16 of a fixed header.
#[inline]
fn word(header: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([header[at], header[at + 1]])
}

fn malformed<T>(code: &'static str, detail: String) -> Step<T> {
    Err(Bad::Malformed(code, detail))
}

// Checked big- and little-endian reads; a read past the end is a "malformed" frame
// (the length checks before them make that unreachable, this keeps it so). The error
// names the first byte read that is missing, in the order the bytes are read.
#[inline]
fn byte(data: &[u8], at: usize) -> Step<u8> {
    match data.get(at) {
        Some(&b) => Ok(b),
        None => past_end(at, data.len()),
    }
}

/// The error of a read past the end: out of line, so the reads stay small enough to
/// inline.
#[cold]
#[inline(never)]
fn past_end<T>(at: usize, len: usize) -> Step<T> {
    Err(Bad::Malformed("malformed", format!("byte {at} of {len}")))
}

/// The `N` bytes at `at`; else the error of reading them first to last.
#[inline]
fn bytes_at<const N: usize>(data: &[u8], at: usize) -> Step<[u8; N]> {
    match data.get(at..).and_then(|rest| rest.first_chunk::<N>()) {
        Some(b) => Ok(*b),
        None => past_end(at.max(data.len()), data.len()),
    }
}

#[inline]
fn be16(data: &[u8], at: usize) -> Step<u16> {
    bytes_at::<2>(data, at).map(u16::from_be_bytes)
}

/// Little-endian reads take the last byte first: a short read names it.
#[inline]
fn le16(data: &[u8], at: usize) -> Step<u16> {
    match bytes_at::<2>(data, at) {
        Ok(b) => Ok(u16::from_le_bytes(b)),
        Err(_) => past_end(at.saturating_add(1), data.len()),
    }
}

#[inline]
fn be32(data: &[u8], at: usize) -> Step<u32> {
    bytes_at::<4>(data, at).map(u32::from_be_bytes)
}

#[inline]
fn le32(data: &[u8], at: usize) -> Step<u32> {
    match bytes_at::<4>(data, at) {
        Ok(b) => Ok(u32::from_le_bytes(b)),
        Err(_) => past_end(at.saturating_add(3), data.len()),
    }
}

fn addr(data: &[u8], from: usize, to: usize) -> Step<Addr> {
    data.get(from..to)
        .map(Addr::from)
        .ok_or_else(|| Bad::Malformed("malformed", format!("address at {from} of {}", data.len())))
}

/// Python's `data[from:to]`: clamped, never failing.
fn clamped(data: &[u8], from: usize, to: usize) -> &[u8] {
    let to = to.min(data.len());
    data.get(from.min(to)..to).unwrap_or(&[])
}

/// One IP datagram being put together from its fragments, in bounded time and space:
/// the bytes go into one 64 KiB buffer at their offset (a later fragment's bytes win
/// where two overlap), and a map of 8-byte units says which are filled.
struct Datagram {
    first_frame: i64,
    order: u64, // when it began: the oldest is given up first
    buf: Vec<u8>,
    filled: Vec<bool>,
    units: usize,
    total: Option<usize>,
    overlap_reported: bool,
}

impl Datagram {
    fn new(first_frame: i64, order: u64) -> Datagram {
        Datagram {
            first_frame,
            order,
            buf: vec![0; MAX_DATAGRAM_BYTES],
            filled: vec![false; MAX_DATAGRAM_BYTES / 8 + 1],
            units: 0,
            total: None,
            overlap_reported: false,
        }
    }

    /// Put a fragment in (the caller has checked it fits); false if it overlapped.
    fn add(&mut self, offset: usize, body: &[u8]) -> bool {
        let end = offset + body.len();
        self.buf[offset..end].copy_from_slice(body);
        let (first, last) = (offset / 8, end.div_ceil(8));
        let span = &mut self.filled[first..last];
        let new = span.iter().filter(|f| !**f).count();
        span.fill(true);
        self.units += new;
        new == last - first
    }

    fn assemble(&self) -> Option<Vec<u8>> {
        let total = self.total?;
        let need = total.div_ceil(8);
        if self.units < need || self.filled[..need].iter().any(|f| !*f) {
            return None; // a hole
        }
        Some(self.buf[..total].to_vec())
    }
}

type FragmentKey = (Addr, Addr, u32, u8);

/// The decoder of one capture: its state is the datagrams being reassembled.
#[derive(Default)]
pub struct Decoder {
    fragments: HashMap<FragmentKey, Datagram>,
    by_age: BTreeMap<u64, FragmentKey>,
    next_order: u64,
}

/// A decoded frame's place: the segment, if it was TCP.
pub type Decoded = Result<Option<Segment>, UnsupportedLinkType>;

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Decode one frame. Never panics: a frame that cannot be decoded is an anomaly
    /// in `tally`, and `Err` only for an unknown link type in a classic pcap
    /// (`pcapng` false).
    pub fn decode(
        &mut self,
        frame: i64,
        ts_ns: i128,
        linktype: i64,
        data: &[u8],
        pcapng: bool,
        tally: &mut Tally,
    ) -> Decoded {
        let mut segment = Segment::empty();
        let found = self.decode_into(frame, ts_ns, linktype, data, pcapng, tally, &mut segment)?;
        Ok(found.then_some(segment))
    }

    /// `decode` into `out` (true: a TCP segment is there now): no segment is moved,
    /// and one `out` serves a whole batch (the move was 56 instructions a packet).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn decode_into(
        &mut self,
        frame: i64,
        ts_ns: i128,
        linktype: i64,
        data: &[u8],
        pcapng: bool,
        tally: &mut Tally,
        out: &mut Segment,
    ) -> Result<bool, UnsupportedLinkType> {
        let at = Frame {
            frame,
            ts_ns,
            pcapng,
        };
        match self.frame(&at, linktype, data, tally, out) {
            Ok(true) => {
                tally.tcp_packets += 1;
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(Bad::Malformed(code, detail)) => {
                tally.anomaly(frame, code, detail);
                Ok(false)
            }
            Err(Bad::Unsupported(linktype)) => Err(UnsupportedLinkType(linktype)),
        }
    }

    #[inline(always)] // one function down to the segment: it is built in place, not copied up
    fn frame(
        &mut self,
        fr: &Frame,
        linktype: i64,
        data: &[u8],
        tally: &mut Tally,
        out: &mut Segment,
    ) -> Step<bool> {
        let (l3, version) = link(linktype, data, fr.pcapng)?;
        match version {
            4 => self.ipv4(fr, data, l3, tally, out),
            6 => self.ipv6(fr, data, l3, tally, out),
            _ => {
                tally.non_tcp_packets += 1;
                Ok(false)
            }
        }
    }

    #[inline(always)] // one function down to the segment: it is built in place, not copied up
    fn ipv4(
        &mut self,
        fr: &Frame,
        data: &[u8],
        at: usize,
        tally: &mut Tally,
        out: &mut Segment,
    ) -> Step<bool> {
        need(data, at + 20, "truncated_ip_header", "IPv4 header cut off")?;
        let h = fixed::<20>(data, at)?;
        let vihl = h[0];
        let mut total = usize::from(word(h, 2));
        let ip_id = word(h, 4);
        let frag = word(h, 6);
        let ttl = h[8];
        let proto = h[9];
        let (src, dst) = (Addr::from(&h[12..16]), Addr::from(&h[16..20]));
        if vihl >> 4 != 4 {
            return malformed(
                "bad_ip_version",
                format!("IP version {} in an IPv4 frame", vihl >> 4),
            );
        }
        let ihl = usize::from(vihl & 15) << 2;
        if ihl < 20 {
            return malformed("bad_ip_header_length", format!("IPv4 header length {ihl}"));
        }
        need(
            data,
            at + ihl,
            "truncated_ip_header",
            "IPv4 options cut off",
        )?;
        if total == 0 {
            total = data.len() - at; // TSO: the stack left the length for the NIC to fill in
        }
        if total < ihl {
            return malformed(
                "bad_ip_total_length",
                format!("IPv4 total length {total} < header {ihl}"),
            );
        }
        if proto != 6 {
            tally.non_tcp_packets += 1;
            if proto == 1 && frag & 0x1FFF == 0 {
                let end = data.len().min(at + total);
                icmp(fr, data, at + ihl, end, src, 4, tally)?;
            }
            return Ok(false);
        }
        let more_fragments = frag & 0x2000 != 0;
        let frag_offset = usize::from(frag & 0x1FFF) << 3;
        let ip = Ip {
            src,
            dst,
            ttl,
            ip_id: i32::from(ip_id),
        };
        if more_fragments || frag_offset != 0 {
            let body = clamped(data, at + ihl, at + total);
            let key = (src, dst, u32::from(ip_id), 6);
            let whole = self.reassemble(
                key,
                fr,
                frag_offset,
                more_fragments,
                body,
                total - ihl,
                tally,
            )?;
            return match whole {
                None => Ok(false),
                Some(whole) => {
                    let len = whole.len();
                    tcp(fr, &whole, 0, len, &ip, tally, out)?;
                    out.bytes = Bytes::Reassembled(whole);
                    Ok(true)
                }
            };
        }
        tcp(fr, data, at + ihl, total - ihl, &ip, tally, out).map(|()| true)
    }

    fn ipv6(
        &mut self,
        fr: &Frame,
        data: &[u8],
        at: usize,
        tally: &mut Tally,
        out: &mut Segment,
    ) -> Step<bool> {
        need(data, at + 40, "truncated_ip_header", "IPv6 header cut off")?;
        let vtcfl = be32(data, at)?;
        let plen = usize::from(be16(data, at + 4)?);
        let mut next_header = byte(data, at + 6)?;
        let hop_limit = byte(data, at + 7)?;
        let (src, dst) = (addr(data, at + 8, at + 24)?, addr(data, at + 24, at + 40)?);
        if vtcfl >> 28 != 6 {
            return malformed(
                "bad_ip_version",
                format!("IP version {} in an IPv6 frame", vtcfl >> 28),
            );
        }
        // plen 0: a jumbogram, take what was captured
        let end = if plen != 0 {
            at + 40 + plen
        } else {
            data.len()
        };
        let mut pos = at + 40;
        let mut fragment: Option<(usize, bool, u32)> = None;
        // Bounded: each header moves `pos` on by 8 bytes at least, and not past `end`.
        while next_header != 6 {
            if IPV6_EXT_HEADERS.contains(&next_header) || next_header == 51 {
                let what = format!("extension header {next_header}");
                need(data, pos + 2, "truncated_ipv6_extension", &what)?;
                let units = usize::from(byte(data, pos + 1)?);
                let length = if next_header == 51 {
                    (units + 2) * 4
                } else {
                    (units + 1) * 8
                };
                next_header = byte(data, pos)?;
                pos += length;
            } else if next_header == 44 {
                need(data, pos + 8, "truncated_ipv6_extension", "fragment header")?;
                next_header = byte(data, pos)?;
                let offset_flags = be16(data, pos + 2)?;
                let ident = be32(data, pos + 4)?;
                pos += 8;
                let (frag_offset, more) = (usize::from(offset_flags & 0xFFF8), offset_flags & 1);
                if frag_offset != 0 || more != 0 {
                    // an atomic fragment (0, no more) is just a packet
                    fragment = Some((frag_offset, more != 0, ident));
                }
            } else {
                tally.non_tcp_packets += 1;
                if next_header == 58 && fragment.is_none() {
                    icmp(fr, data, pos, data.len().min(end), src, 6, tally)?;
                }
                return Ok(false);
            }
            if pos > end {
                return malformed(
                    "bad_ipv6_extension",
                    "extension headers run past the payload".into(),
                );
            }
        }
        let ip = Ip {
            src,
            dst,
            ttl: hop_limit,
            ip_id: -1,
        };
        if let Some((frag_offset, more, ident)) = fragment {
            let body = clamped(data, pos, end);
            let key = (src, dst, ident, 6);
            let whole = self.reassemble(key, fr, frag_offset, more, body, end - pos, tally)?;
            return match whole {
                None => Ok(false),
                Some(whole) => {
                    let len = whole.len();
                    tcp(fr, &whole, 0, len, &ip, tally, out)?;
                    out.bytes = Bytes::Reassembled(whole);
                    Ok(true)
                }
            };
        }
        tcp(fr, data, pos, end - pos, &ip, tally, out).map(|()| true)
    }

    /// Collect TCP fragments; the whole datagram at its last fragment.
    #[allow(clippy::too_many_arguments)]
    fn reassemble(
        &mut self,
        key: FragmentKey,
        fr: &Frame,
        offset: usize,
        more: bool,
        body: &[u8],
        body_len: usize,
        tally: &mut Tally,
    ) -> Step<Option<Vec<u8>>> {
        tally.ip_fragments += 1;
        if body.len() < body_len {
            return malformed(
                "truncated_fragment",
                "IP fragment cut by snaplen: cannot reassemble".into(),
            );
        }
        if !self.fragments.contains_key(&key) {
            if self.fragments.len() >= MAX_PENDING_FRAGMENTS {
                if let Some((_, oldest)) = self.by_age.pop_first() {
                    if let Some(lost) = self.fragments.remove(&oldest) {
                        tally.anomaly(
                            lost.first_frame,
                            "fragments_incomplete",
                            "IP datagram never completed",
                        );
                    }
                }
            }
            self.next_order += 1;
            self.by_age.insert(self.next_order, key);
            self.fragments
                .insert(key, Datagram::new(fr.frame, self.next_order));
        }
        if offset + body.len() > MAX_DATAGRAM_BYTES {
            self.forget(&key);
            return malformed("bad_fragment", "IP fragment beyond 64 KB".into());
        }
        let Some(datagram) = self.fragments.get_mut(&key) else {
            return Ok(None); // just inserted: unreachable
        };
        if !datagram.add(offset, body) && !datagram.overlap_reported {
            datagram.overlap_reported = true;
            tally.anomaly(
                fr.frame,
                "fragment_overlap",
                "IP fragment overlaps one seen before",
            );
        }
        if !more {
            datagram.total = Some(offset + body.len());
        }
        let Some(whole) = datagram.assemble() else {
            return Ok(None);
        };
        self.forget(&key);
        tally.ip_fragments -= 1; // the datagram's last fragment is reported as the packet
        Ok(Some(whole))
    }

    fn forget(&mut self, key: &FragmentKey) {
        if let Some(gone) = self.fragments.remove(key) {
            self.by_age.remove(&gone.order);
        }
    }
}

struct Frame {
    frame: i64,
    ts_ns: i128,
    pcapng: bool,
}

struct Ip {
    src: Addr,
    dst: Addr,
    ttl: u8,
    ip_id: i32,
}

impl Segment {
    /// A segment to decode into (`Decoder::decode_into`).
    pub fn empty() -> Segment {
        Segment {
            frame: 0,
            ts_ns: 0,
            src: Addr::from_slice(&[]),
            sport: 0,
            dst: Addr::from_slice(&[]),
            dport: 0,
            flags: 0,
            seq: 0,
            ack: 0,
            win: 0,
            payload_len: 0,
            ttl: 0,
            ip_id: 0,
            bytes: Bytes::Frame,
            tcp_at: 0,
            payload_at: 0,
            captured_end: 0,
        }
    }
}

/// The link layer: the offset of the IP header and the IP version (0: not IP).
fn link(linktype: i64, data: &[u8], pcapng: bool) -> Step<(usize, u8)> {
    match linktype {
        1 => ethertype(data, 12, 14),
        113 => {
            need(data, 16, "truncated_link_header", "Linux cooked header")?;
            ethertype(data, 14, 16)
        }
        276 => {
            need(data, 20, "truncated_link_header", "Linux cooked v2 header")?;
            ethertype(data, 0, 20)
        }
        101 | 12 | 14 => {
            need(data, 1, "truncated_ip_header", "empty raw IP packet")?;
            Ok((0, byte(data, 0)? >> 4))
        }
        228 => Ok((0, 4)),
        229 => Ok((0, 6)),
        0 | 108 => {
            need(data, 4, "truncated_link_header", "loopback header")?;
            let mut family = if linktype == 108 {
                be32(data, 0)?
            } else {
                le32(data, 0)?
            };
            if family > 0xFFFF {
                family = be32(data, 0)?; // NULL is in the writer's byte order
            }
            Ok((
                4,
                if family == 2 {
                    4
                } else if AF_INET6.contains(&family) {
                    6
                } else {
                    0
                },
            ))
        }
        239 => nflog(data),
        242 => ethertype(data, 40, 44), // IPoIB: 40 bytes of addresses, EtherType, reserved
        _ if !pcapng => Err(Bad::Unsupported(linktype)),
        _ => malformed(
            "unsupported_link_type",
            format!(
                "link type {linktype} ({}) is not decoded",
                linktype_name(linktype)
            ),
        ),
    }
}

/// Follow an EtherType through VLAN tags, PPPoE and MPLS to the IP header.
fn ethertype(data: &[u8], at: usize, end: usize) -> Step<(usize, u8)> {
    need(data, end, "truncated_link_header", "link header")?;
    let mut ethertype = be16(data, at)?;
    let mut pos = end;
    for _ in 0..8 {
        // bounded: QinQinQ and a few MPLS labels at most in practice
        if ethertype == ETH_IPV4 {
            return Ok((pos, 4));
        }
        if ethertype == ETH_IPV6 {
            return Ok((pos, 6));
        }
        if VLAN_TAGS.contains(&ethertype) {
            need(data, pos + 4, "truncated_link_header", "VLAN tag")?;
            ethertype = be16(data, pos + 2)?;
            pos += 4;
        } else if ethertype == 0x8864 {
            // PPPoE session: 6-byte header, then a PPP protocol
            need(data, pos + 8, "truncated_link_header", "PPPoE header")?;
            let ppp = be16(data, pos + 6)?;
            pos += 8;
            let version = match ppp {
                0x0021 => 4,
                0x0057 => 6,
                _ => 0,
            };
            return Ok((pos, version));
        } else if ethertype == 0x8847 || ethertype == 0x8848 {
            // MPLS: labels until the bottom of the stack
            for _ in 0..16 {
                need(data, pos + 4, "truncated_link_header", "MPLS label")?;
                let bottom = byte(data, pos + 2)? & 1;
                pos += 4;
                if bottom != 0 {
                    break;
                }
            }
            need(data, pos + 1, "truncated_ip_header", "IP header after MPLS")?;
            let version = byte(data, pos)? >> 4;
            return Ok((
                pos,
                if version == 4 || version == 6 {
                    version
                } else {
                    0
                },
            ));
        } else {
            return Ok((pos, 0));
        }
    }
    Ok((pos, 0))
}

/// Linux NFLOG (iptables -j NFLOG): TLVs after a 4-byte header; type 9 is the packet.
fn nflog(data: &[u8]) -> Step<(usize, u8)> {
    need(data, 4, "truncated_link_header", "NFLOG header")?;
    let mut pos = 4;
    for _ in 0..64 {
        // bounded: a handful of TLVs per packet in practice
        if pos + 4 > data.len() {
            break;
        }
        // TLV length and type are in the capturing host's byte order, nearly always little.
        let length = usize::from(le16(data, pos)?);
        let tlv_type = le16(data, pos + 2)?;
        if length < 4 {
            return malformed("bad_link_header", format!("NFLOG TLV of length {length}"));
        }
        if tlv_type & 0x7FFF == 9 {
            need(data, pos + 5, "truncated_ip_header", "NFLOG payload")?;
            return Ok((pos + 4, byte(data, pos + 4)? >> 4));
        }
        pos += (length + 3) & !3;
    }
    Ok((pos, 0))
}

/// Record an ICMP(v6) error quoting a TCP packet; anything else is only counted.
/// The quote is the offending packet's IP header and at least 8 bytes of TCP.
fn icmp(
    fr: &Frame,
    data: &[u8],
    at: usize,
    end: usize,
    sender: Addr,
    version: u8,
    tally: &mut Tally,
) -> Step<()> {
    if end < at + 8 {
        return Ok(());
    }
    let (icmp_type, code) = (byte(data, at)?, byte(data, at + 1)?);
    let Some(kind) = icmp_kind(version, icmp_type, code) else {
        return Ok(()); // echo, redirect, neighbour discovery: not an error about a packet
    };
    let mtu = if version == 4 && (icmp_type, code) == (3, 4) {
        Some(u32::from(be16(data, at + 6)?)).filter(|m| *m != 0)
    } else if version == 6 && icmp_type == 2 {
        Some(be32(data, at + 4)?)
    } else {
        None
    };
    let quote = at + 8;
    let (tcp_at, src, dst) = if version == 4 {
        if end < quote + 20 || byte(data, quote)? >> 4 != 4 || byte(data, quote + 9)? != 6 {
            return Ok(());
        }
        let tcp_at = quote + usize::from(byte(data, quote)? & 15) * 4;
        (
            tcp_at,
            addr(data, quote + 12, quote + 16)?,
            addr(data, quote + 16, quote + 20)?,
        )
    } else {
        if end < quote + 40 || byte(data, quote)? >> 4 != 6 || byte(data, quote + 6)? != 6 {
            return Ok(());
        }
        (
            quote + 40,
            addr(data, quote + 8, quote + 24)?,
            addr(data, quote + 24, quote + 40)?,
        )
    };
    if end < tcp_at + 8 {
        return Ok(());
    }
    tally.icmp_errors.push(IcmpError {
        frame: fr.frame,
        ts_ns: fr.ts_ns,
        sender,
        kind,
        mtu,
        src,
        sport: be16(data, tcp_at)?,
        dst,
        dport: be16(data, tcp_at + 2)?,
        seq: be32(data, tcp_at + 4)?,
    });
    Ok(())
}

#[inline(always)] // one function down to the segment: it is built in place, not copied up
fn tcp(
    fr: &Frame,
    data: &[u8],
    at: usize,
    ip_payload_len: usize,
    ip: &Ip,
    tally: &mut Tally,
    out: &mut Segment,
) -> Step<()> {
    need(data, at + 20, "truncated_tcp_header", "TCP header cut off")?;
    let h = fixed::<20>(data, at)?;
    let off_flags = word(h, 12);
    let doff = usize::from(off_flags >> 12) << 2;
    if doff < 20 {
        return malformed(
            "bad_tcp_data_offset",
            format!("TCP data offset {doff} < 20"),
        );
    }
    if doff > ip_payload_len {
        return malformed(
            "bad_tcp_data_offset",
            format!("TCP header of {doff} bytes in {ip_payload_len} IP bytes"),
        );
    }
    if data.len() < at + doff {
        tally.anomaly(
            fr.frame,
            "truncated_tcp_options",
            "TCP options cut by snaplen",
        );
    }
    *out = Segment {
        frame: fr.frame,
        ts_ns: fr.ts_ns,
        src: ip.src,
        sport: word(h, 0),
        dst: ip.dst,
        dport: word(h, 2),
        flags: (off_flags & 0xFF) as u8,
        seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
        win: word(h, 14),
        payload_len: ip_payload_len - doff,
        ttl: ip.ttl,
        ip_id: ip.ip_id,
        bytes: Bytes::Frame,
        tcp_at: at,
        payload_at: at + doff,
        captured_end: data.len(),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise::Noise;

    fn ipv4_tcp(flags: u8, payload: &[u8]) -> Vec<u8> {
        let total = 40 + payload.len();
        let mut p = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0x40,
            0,
            64,
            6,
            0,
            0,
        ];
        p.extend_from_slice(&[192, 0, 2, 1, 198, 51, 100, 2]);
        p.extend_from_slice(&[
            0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff,
        ]);
        p.extend_from_slice(&[0, 0, 0, 0]);
        p.extend_from_slice(payload);
        p
    }

    fn decode_one(linktype: i64, data: &[u8]) -> (Decoded, Tally) {
        let mut tally = Tally::default();
        let got = Decoder::new().decode(1, 0, linktype, data, true, &mut tally);
        (got, tally)
    }

    #[test]
    fn raw_ipv4_tcp_segment() {
        let (got, tally) = decode_one(101, &ipv4_tcp(0x18, b"GET /"));
        let seg = got.unwrap().unwrap();
        assert_eq!(
            (seg.sport, seg.dport, seg.flags, seg.payload_len),
            (12345, 80, 0x18, 5)
        );
        assert_eq!(seg.src.as_slice(), &[192, 0, 2, 1]);
        assert_eq!(
            (seg.tcp_at, seg.payload_at, seg.ttl, seg.ip_id),
            (20, 40, 64, 1)
        );
        assert_eq!(tally.tcp_packets, 1);
    }

    #[test]
    fn a_cut_header_is_an_anomaly_with_the_words_of_the_python_decoder() {
        let packet = ipv4_tcp(0x02, b"");
        let (got, tally) = decode_one(101, &packet[..30]);
        assert_eq!(got, Ok(None));
        assert_eq!(tally.anomalies[0].code, "truncated_tcp_header");
        assert_eq!(
            tally.anomalies[0].detail,
            "TCP header cut off (30 of 40 bytes captured)"
        );
    }

    #[test]
    fn unknown_link_type_is_fatal_in_pcap_and_an_anomaly_in_pcapng() {
        let mut tally = Tally::default();
        let got = Decoder::new().decode(1, 0, 105, b"xx", false, &mut tally);
        assert_eq!(got, Err(UnsupportedLinkType(105)));
        let (got, tally) = decode_one(105, b"xx");
        assert_eq!(got, Ok(None));
        assert_eq!(
            tally.anomalies[0].detail,
            "link type 105 (IEEE802_11) is not decoded"
        );
    }

    #[test]
    fn fragments_are_reassembled_at_the_last_one() {
        let whole = ipv4_tcp(0x18, &[7u8; 40]);
        let body = &whole[20..];
        let mut first = whole[..20].to_vec();
        first[6] = 0x20; // more fragments, offset 0
        first[2..4].copy_from_slice(&(20u16 + 32).to_be_bytes());
        first.extend_from_slice(&body[..32]);
        let mut last = whole[..20].to_vec();
        last[6] = 0;
        last[7] = 4; // offset 32 bytes
        last[2..4].copy_from_slice(&(20u16 + 28).to_be_bytes());
        last.extend_from_slice(&body[32..]);
        let mut decoder = Decoder::new();
        let mut tally = Tally::default();
        assert_eq!(
            decoder.decode(1, 0, 101, &first, true, &mut tally),
            Ok(None)
        );
        let seg = decoder
            .decode(2, 0, 101, &last, true, &mut tally)
            .unwrap()
            .unwrap();
        assert_eq!((seg.frame, seg.payload_len, seg.tcp_at), (2, 40, 0));
        assert_eq!(seg.bytes, Bytes::Reassembled(body.to_vec()));
        assert_eq!(tally.ip_fragments, 1);
    }

    /// A plausible link header of each decoded type before an IP packet.
    fn link_header(linktype: i64, ip_len: usize, noise: &mut Noise, alphabet: &[u8]) -> Vec<u8> {
        let mut random = |n| noise.bytes(n, alphabet);
        match linktype {
            1 => [random(12), vec![8, 0]].concat(),
            113 => [random(14), vec![8, 0]].concat(),
            276 => [vec![8, 0], random(18)].concat(),
            0 => vec![2, 0, 0, 0],
            108 => vec![0, 0, 0, 2],
            242 => [random(40), vec![8, 0, 0, 0]].concat(),
            239 => {
                let tlv = ((ip_len + 4) as u16).to_le_bytes();
                vec![2, 0, 0, 0, tlv[0], tlv[1], 9, 0]
            }
            _ => Vec::new(),
        }
    }

    #[test]
    fn no_input_panics_on_any_link_type() {
        // Good packets behind each link header, then bytes overwritten and the frame cut.
        let mut noise = Noise::new(7);
        let mut decoder = Decoder::new();
        let mut tally = Tally::default();
        let alphabet: Vec<u8> = (0..=255).collect();
        let packet = ipv4_tcp(0x18, b"GET / HTTP/1.1");
        for round in 0..40_000usize {
            let linktype = LINKTYPES[round % LINKTYPES.len()].0;
            let mut data = link_header(linktype, packet.len(), &mut noise, &alphabet);
            data.extend_from_slice(&packet);
            for _ in 0..(noise.next() % 6) {
                let at = (noise.next() as usize) % data.len();
                data[at] =
                    [0, 0x20, 0x2c, 0x3a, 0x45, 0x60, 0x81, 0xff][(noise.next() % 8) as usize];
            }
            data.truncate((noise.next() as usize) % (data.len() + 1));
            let _ = decoder.decode(round as i64, 0, linktype, &data, round % 2 == 0, &mut tally);
        }
        assert!(decoder.fragments.len() <= MAX_PENDING_FRAGMENTS);
        assert!(tally.tcp_packets > 0 && !tally.anomalies.is_empty());
    }
}
