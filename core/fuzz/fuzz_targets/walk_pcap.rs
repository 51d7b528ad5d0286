//! Any bytes, any layout, any end: the pcap walk never panics, and what it takes
//! lies inside the chunk, record after record.
#![no_main]

use _core::pcap::{walk, Layout};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, chunk)) = data.split_first() else {
        return;
    };
    let layout = Layout {
        header_len: if flags & 1 != 0 { 24 } else { 16 },
        big_endian: flags & 2 != 0,
        nanoseconds: flags & 4 != 0,
        max_caplen: if flags & 8 != 0 { 65_535 } else { 262_144 },
        empty_limit: 4096,
        zero_run_bytes: 64 * 1024,
        chunk_bytes: 1 << 20,
    };
    let end = chunk.len().saturating_sub(usize::from(flags >> 4));
    let begin = usize::from(flags >> 6);
    let w = walk(chunk, begin, end, layout, 0);
    assert!(w.pos <= end);
    let mut previous_end = begin.min(end);
    for (start, caplen) in w.starts.iter().zip(&w.caplens) {
        let (start, caplen) = (*start as usize, *caplen as usize);
        assert!(start >= previous_end + layout.header_len);
        assert!(start + caplen <= end);
        previous_end = start + caplen;
    }
});
