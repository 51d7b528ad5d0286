//! The pcapng fast path: runs of Enhanced Packet Blocks (pcapng spec, section 4.3),
//! which are nearly every block of a capture. The walk takes consecutive EPBs that
//! are whole, well-formed, on a known interface and whose timestamp fits, and stops
//! at the first block that is anything else; the Python reader handles that block
//! (section headers, interface descriptions, statistics, damaged blocks, a cut) as
//! before, then calls the walk again.

use crate::bytes::word;

/// What an Interface Description Block said: ns = ticks * num / den + offset_ns.
#[derive(Debug, Clone, Copy)]
pub struct Interface {
    pub linktype: i64,
    pub num: i128,
    pub den: i128,
    pub offset_ns: i128,
}

/// The EPBs taken, as columns.
#[derive(Debug, Default)]
pub struct Run {
    pub starts: Vec<i64>,
    pub caplens: Vec<i64>,
    pub ts_ns: Vec<i64>,
    pub wire_lens: Vec<i64>,
    pub linktypes: Vec<i64>,
    pub pos: usize, // the first block not taken
}

const EPB: u32 = 6;
const EPB_FIXED: usize = 32; // block header, five words, block trailer

/// The EPB at `pos`, if it is one the fast path takes: (start, caplen, ts, wire,
/// linktype, next block).
fn epb(
    buf: &[u8],
    pos: usize,
    big_endian: bool,
    interfaces: &[Interface],
    max_block_len: u32,
) -> Option<(usize, u32, i64, u32, i64, usize)> {
    if word(buf, pos, big_endian)? != EPB {
        return None;
    }
    let block_len = word(buf, pos + 4, big_endian)?;
    if (block_len as usize) < EPB_FIXED || block_len % 4 != 0 || block_len > max_block_len {
        return None;
    }
    let next = pos.checked_add(block_len as usize)?;
    if next > buf.len() {
        return None;
    }
    let iface_id = word(buf, pos + 8, big_endian)? as usize;
    let ts_hi = word(buf, pos + 12, big_endian)?;
    let ts_lo = word(buf, pos + 16, big_endian)?;
    let caplen = word(buf, pos + 20, big_endian)?;
    let wire = word(buf, pos + 24, big_endian)?;
    if caplen as usize > block_len as usize - EPB_FIXED {
        return None;
    }
    let iface = interfaces.get(iface_id)?;
    if iface.den <= 0 {
        return None;
    }
    let ticks = i128::from(u64::from(ts_hi) << 32 | u64::from(ts_lo));
    // Python's floor division, exactly: the values are never negative but the offset.
    let ts = (ticks.checked_mul(iface.num)?).div_euclid(iface.den) + iface.offset_ns;
    let ts = i64::try_from(ts).ok()?; // past 2262: the Python reader keeps such a value
    Some((pos + 28, caplen, ts, wire, iface.linktype, next))
}

/// Take consecutive EPBs from `pos` in `buf[..end]`, at most `limit` of them.
pub fn walk(
    buf: &[u8],
    pos: usize,
    end: usize,
    big_endian: bool,
    interfaces: &[Interface],
    max_block_len: u32,
    limit: usize,
) -> Run {
    let view = buf.get(..end.min(buf.len())).unwrap_or(&[]);
    // as pcap::walk: room for 256-byte blocks at the start
    let room = (view.len().saturating_sub(pos) / 256).min(limit);
    let mut run = Run {
        starts: Vec::with_capacity(room),
        caplens: Vec::with_capacity(room),
        ts_ns: Vec::with_capacity(room),
        wire_lens: Vec::with_capacity(room),
        linktypes: Vec::with_capacity(room),
        pos,
    };
    while run.starts.len() < limit {
        let Some((start, caplen, ts, wire, linktype, next)) =
            epb(view, run.pos, big_endian, interfaces, max_block_len)
        else {
            break;
        };
        run.starts.push(start as i64);
        run.caplens.push(i64::from(caplen));
        run.ts_ns.push(ts);
        run.wire_lens.push(i64::from(wire));
        run.linktypes.push(linktype);
        run.pos = next;
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: Interface = Interface {
        linktype: 1,
        num: 1000,
        den: 1,
        offset_ns: 0,
    };

    fn block(iface: u32, ticks: u64, data: &[u8], wire: u32) -> Vec<u8> {
        let padded = data.len().div_ceil(4) * 4;
        let len = (EPB_FIXED + padded) as u32;
        let mut out = Vec::new();
        for w in [
            EPB,
            len,
            iface,
            (ticks >> 32) as u32,
            ticks as u32,
            data.len() as u32,
            wire,
        ] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(data);
        out.resize(out.len() + padded - data.len(), 0);
        out.extend_from_slice(&len.to_le_bytes());
        out
    }

    #[test]
    fn a_run_of_epbs_then_another_block() {
        let mut buf = block(0, 5, b"hello", 60);
        buf.extend(block(1, 7, b"", 0));
        let second = buf.len();
        buf.extend([5u8, 0, 0, 0, 12, 0, 0, 0, 12, 0, 0, 0]); // an ISB-typed block
        let ifaces = [
            NS,
            Interface {
                linktype: 276,
                num: 1,
                den: 1,
                offset_ns: 10,
            },
        ];
        let run = walk(&buf, 0, buf.len(), false, &ifaces, 1 << 20, 100);
        assert_eq!(run.starts, vec![28, 68]);
        assert_eq!(run.caplens, vec![5, 0]);
        assert_eq!(run.ts_ns, vec![5000, 17]);
        assert_eq!(run.linktypes, vec![1, 276]);
        assert_eq!(run.pos, second);
    }

    #[test]
    fn stops_at_what_python_must_see() {
        let good = block(0, 1, b"abcd", 4);
        // an unknown interface, a caplen past the block, a cut block, an overflow
        let unknown = block(3, 1, b"abcd", 4);
        let mut too_long = block(0, 1, b"abcd", 4);
        too_long[20..24].copy_from_slice(&100u32.to_le_bytes());
        let huge = Interface {
            num: 1_000_000_000,
            ..NS
        };
        for (bad, ifaces) in [
            (unknown, vec![NS]),
            (too_long, vec![NS]),
            (good[..20].to_vec(), vec![NS]),
            (block(0, u64::MAX, b"", 0), vec![huge]),
        ] {
            let mut buf = good.clone();
            buf.extend(bad);
            let run = walk(&buf, 0, buf.len(), false, &ifaces, 1 << 20, 100);
            assert_eq!((run.starts.len(), run.pos), (1, good.len()));
        }
    }

    #[test]
    fn big_endian_and_the_limit() {
        let mut buf = Vec::new();
        for w in [EPB, 32, 0, 0, 9, 0, 0, 32] {
            buf.extend_from_slice(&w.to_be_bytes());
        }
        let twice = [buf.clone(), buf].concat();
        let run = walk(&twice, 0, twice.len(), true, &[NS], 1 << 20, 1);
        assert_eq!((run.ts_ns.clone(), run.pos), (vec![9000], 32));
    }

    #[test]
    fn any_bytes_never_panic() {
        let mut noise = crate::noise::Noise::new(0x9e37_79b9_7f4a_7c15);
        let small: Vec<u8> = (0..64).collect();
        for len in 0..300usize {
            let mut buf = noise.bytes(len, &small);
            for word in buf.iter_mut().step_by(4) {
                *word = 6; // block types that say EPB, so the walk goes on
            }
            for pos in [0, 1, len / 2, len + 3] {
                let run = walk(&buf, pos, len, false, &[NS], 1 << 20, 50);
                assert!(run.pos >= pos);
            }
        }
    }
}
