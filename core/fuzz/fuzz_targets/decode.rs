//! Any frames under any link type: the decoder never panics, every segment's header
//! lies inside the bytes it names, and the fragment buffers stay bounded.
//!
//! Input: one byte (the link type's index in the table, and 0x80 for pcapng), then
//! frames, each a two-byte little-endian length and that many bytes.
#![no_main]

use _core::decode::{Bytes, Decoder, Tally, LINKTYPES, MAX_DATAGRAM_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let linktype = LINKTYPES[usize::from(flags & 0x7f) % LINKTYPES.len()].0;
    let pcapng = flags & 0x80 != 0;
    let mut decoder = Decoder::new();
    let mut tally = Tally::default();
    let mut frame = 0;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let bytes = &rest[2..2 + len];
        rest = &rest[2 + len..];
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
