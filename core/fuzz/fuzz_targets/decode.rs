//! Any frames under any link type: the decoder never panics, every segment's header
//! lies inside the bytes it names, and the fragment buffers stay bounded.
//!
//! Input: frames.rs.
#![no_main]

mod frames;

use _core::decode::{Bytes, Decoder, Tally, MAX_DATAGRAM_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((linktype, pcapng, frames)) = frames::frames(data) else {
        return;
    };
    let mut decoder = Decoder::new();
    let mut tally = Tally::default();
    let mut frame = 0;
    for bytes in frames {
        frame += 1;
        let Ok(Some(segment)) = decoder.decode(frame, 0, linktype, bytes, pcapng, &mut tally)
        else {
            continue;
        };
        let held = match &segment.bytes {
            Bytes::Frame => bytes.len(),
            Bytes::Reassembled(whole) => whole.len(),
        };
        assert!(held <= MAX_DATAGRAM_BYTES.max(bytes.len()));
        assert_eq!(segment.captured_end, held);
        assert!(segment.tcp_at + 20 <= segment.captured_end);
        assert!(segment.payload_at >= segment.tcp_at + 20);
    }
    assert!(tally.ip_fragments >= 0);
});
