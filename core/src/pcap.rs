//! The classic pcap record walk (pcap-savefile(5)): a record is a 16-byte header
//! (24 in the "modified" variant: the same four words, then eight more bytes) of
//! seconds, the fraction (microseconds, or nanoseconds), the captured length and the
//! length on the wire, then the captured bytes.

use crate::bytes::word;

/// Why a walk stopped before the end of the chunk's whole records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Every whole record was taken; `want` says what a cut-off one needs.
    End,
    /// From `at` on the chunk is zero records (a preallocated file's unwritten tail).
    Zeros { at: usize },
    /// The record at `at` claims more captured bytes than the limit: corrupt.
    TooBig { at: usize, caplen: u32 },
}

/// How the file's records are laid out.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub header_len: usize, // 16, or 24 for the modified variant
    pub big_endian: bool,
    pub nanoseconds: bool,
    pub max_caplen: u32,
    /// This many zero-length records in a row are the start of an unwritten tail.
    pub empty_limit: u32,
    /// So many zero bytes from a record's start are an unwritten tail too ...
    pub zero_run_bytes: usize,
    /// ... or zeros to the end of the file, when less than a chunk is left.
    pub chunk_bytes: usize,
}

/// The records of one chunk, as columns.
#[derive(Debug, Default)]
pub struct Walk {
    pub starts: Vec<i64>, // offset of each record's captured bytes
    pub caplens: Vec<i64>,
    pub ts_ns: Vec<i64>,
    pub wire_lens: Vec<i64>,
    pub pos: usize,  // where the first record not taken starts
    pub want: usize, // bytes the record cut by the chunk's end needs (0: none cut)
    pub empty_run: u32,
    pub stop: Option<Stop>,
}

/// Is an unwritten (zero-filled) tail starting at `pos`? At least
/// `layout.zero_run_bytes` of zeros, or zeros to the end of the file when less than
/// a chunk is left and that is more than a header: no record header is all zeros.
pub fn zero_run(chunk: &[u8], pos: usize, end: usize, layout: &Layout) -> bool {
    let Some(rest) = chunk.get(pos..end.min(chunk.len())) else {
        return false;
    };
    if rest.iter().take(layout.header_len).any(|&b| b != 0) {
        return false;
    }
    let found = rest.iter().position(|&b| b != 0);
    let run = found.unwrap_or(rest.len());
    run >= layout.zero_run_bytes
        || (found.is_none() && rest.len() < layout.chunk_bytes && run > layout.header_len)
}

/// Walk the whole records in `chunk[begin..end]` (offsets in the result are the
/// chunk's); `empty_run` carries the count of zero-length records in a row over from
/// the previous chunk.
pub fn walk(chunk: &[u8], begin: usize, end: usize, layout: Layout, empty_run: u32) -> Walk {
    let end = end.min(chunk.len());
    let begin = begin.min(end);
    let hdr = layout.header_len;
    let frac_ns: i64 = if layout.nanoseconds { 1 } else { 1000 };
    // Room for a chunk of 256-byte records at the start: the columns grow (and copy)
    // a few times less, and at most a chunk's worth is asked for.
    let room = (end - begin) / 256;
    let mut out = Walk {
        starts: Vec::with_capacity(room),
        caplens: Vec::with_capacity(room),
        ts_ns: Vec::with_capacity(room),
        wire_lens: Vec::with_capacity(room),
        empty_run,
        ..Walk::default()
    };
    let mut pos = begin;
    while pos + hdr <= end {
        let (Some(sec), Some(frac), Some(caplen), Some(wire)) = (
            word(chunk, pos, layout.big_endian),
            word(chunk, pos + 4, layout.big_endian),
            word(chunk, pos + 8, layout.big_endian),
            word(chunk, pos + 12, layout.big_endian),
        ) else {
            break;
        };
        if caplen == 0 {
            out.empty_run += 1;
            if out.empty_run >= layout.empty_limit || zero_run(chunk, pos, end, &layout) {
                out.stop = Some(Stop::Zeros { at: pos });
                break;
            }
        } else {
            out.empty_run = 0;
        }
        if caplen > layout.max_caplen {
            out.stop = Some(Stop::TooBig { at: pos, caplen });
            break;
        }
        let next = pos + hdr + caplen as usize;
        if next > end {
            out.want = next - pos;
            break;
        }
        out.starts.push((pos + hdr) as i64);
        out.caplens.push(i64::from(caplen));
        out.ts_ns
            .push(i64::from(sec) * 1_000_000_000 + i64::from(frac) * frac_ns);
        out.wire_lens.push(i64::from(wire));
        pos = next;
    }
    out.pos = pos;
    if out.stop.is_none() {
        out.stop = Some(Stop::End);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LE: Layout = Layout {
        header_len: 16,
        big_endian: false,
        nanoseconds: false,
        max_caplen: 262_144,
        empty_limit: 8,
        zero_run_bytes: 4096,
        chunk_bytes: 1 << 20,
    };

    fn record(sec: u32, usec: u32, data: &[u8], wire: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for w in [sec, usec, data.len() as u32, wire] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn whole_records_and_a_cut_one() {
        let mut chunk = record(1, 2, b"abc", 60);
        chunk.extend(record(3, 4, b"de", 2));
        let cut = record(5, 6, b"fghij", 5);
        chunk.extend_from_slice(&cut[..18]);
        let w = walk(&chunk, 0, chunk.len(), LE, 0);
        assert_eq!(w.starts, vec![16, 35]);
        assert_eq!(w.caplens, vec![3, 2]);
        assert_eq!(w.ts_ns, vec![1_000_002_000, 3_000_004_000]);
        assert_eq!(w.wire_lens, vec![60, 2]);
        assert_eq!(w.pos, 37);
        assert_eq!(w.want, 21);
        assert_eq!(w.stop, Some(Stop::End));
    }

    #[test]
    fn a_walk_from_inside_the_chunk_gives_the_chunks_offsets() {
        // what the read-ahead hands over: the previous chunk's cut record copied in
        // just before the new block, the walk begun there
        let mut chunk = vec![0xAA; 7];
        chunk.extend(record(1, 2, b"abc", 60));
        chunk.extend(record(3, 4, b"de", 2));
        let whole = walk(&chunk[7..], 0, chunk.len() - 7, LE, 0);
        let inside = walk(&chunk, 7, chunk.len(), LE, 0);
        let moved: Vec<i64> = whole.starts.iter().map(|s| s + 7).collect();
        assert_eq!(inside.starts, moved);
        assert_eq!(inside.ts_ns, whole.ts_ns);
        assert_eq!(inside.pos, whole.pos + 7);
        // a beginning past the end takes nothing
        assert!(walk(&chunk, 99, chunk.len(), LE, 0).starts.is_empty());
    }

    #[test]
    fn big_endian_nanoseconds() {
        let mut chunk = Vec::new();
        for w in [7u32, 9, 1, 1] {
            chunk.extend_from_slice(&w.to_be_bytes());
        }
        chunk.push(0xff);
        let layout = Layout {
            big_endian: true,
            nanoseconds: true,
            ..LE
        };
        let w = walk(&chunk, 0, chunk.len(), layout, 0);
        assert_eq!(w.ts_ns, vec![7_000_000_009]);
    }

    #[test]
    fn a_corrupt_length_stops_the_walk() {
        let mut chunk = record(1, 0, b"x", 1);
        chunk.extend(record(1, 0, &[0u8; 300], 300));
        let layout = Layout {
            max_caplen: 100,
            ..LE
        };
        let w = walk(&chunk, 0, chunk.len(), layout, 0);
        assert_eq!(w.starts.len(), 1);
        assert_eq!(
            w.stop,
            Some(Stop::TooBig {
                at: 17,
                caplen: 300
            })
        );
    }

    #[test]
    fn zeros_are_an_unwritten_tail() {
        let mut chunk = record(1, 0, b"x", 1);
        chunk.extend([0u8; 64]);
        let w = walk(&chunk, 0, chunk.len(), LE, 0);
        assert_eq!(w.starts.len(), 1);
        assert_eq!(w.stop, Some(Stop::Zeros { at: 17 }));
    }

    #[test]
    fn any_bytes_any_end_never_panic() {
        // a cheap sweep; the fuzz target does this coverage-guided
        let mut noise = crate::noise::Noise::new(0x2545_f491_4f6c_dd1d);
        let small: Vec<u8> = (0..16).collect();
        for len in 0..400usize {
            let chunk = noise.bytes(len, &small);
            for end in [0, len / 2, len, len + 10] {
                let w = walk(&chunk, 0, end, LE, 0);
                assert!(w.pos <= len);
            }
        }
    }
}
