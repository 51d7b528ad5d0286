//! Any frames, decoded and tracked as `conns` does it: the tracker never panics, every
//! connection it starts is released exactly once, and its records stay bounded.
//!
//! Input: frames.rs; each frame is stamped a little after the one before, by its
//! first byte, so sweeps and idle timeouts happen.
#![no_main]

mod frames;

use std::collections::HashSet;

use _core::decode::{Bytes, Decoder, Tally};
use _core::track::{Event, Seg, Tracker, MAX_HISTORY, MAX_KEPT};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((linktype, pcapng, frames)) = frames::frames(data) else {
        return;
    };
    let mut decoder = Decoder::new();
    let mut tracker = Tracker::new(2_000_000_000, 100_000_000, true);
    let mut tally = Tally::default();
    let mut events = Vec::new();
    let (mut frame, mut ts) = (0i64, 1_700_000_000_000_000_000i128);
    for bytes in frames {
        frame += 1;
        ts += i128::from(bytes.first().copied().unwrap_or(0)) * 50_000_000;
        let Ok(Some(segment)) = decoder.decode(frame, ts, linktype, bytes, pcapng, &mut tally)
        else {
            continue;
        };
        let held: &[u8] = match &segment.bytes {
            Bytes::Frame => bytes,
            Bytes::Reassembled(whole) => whole,
        };
        let seg = Seg::of(&segment, held);
        tracker.segment(&seg, 0, &mut events);
    }
    tracker.finish(&mut events);
    let mut ids = HashSet::new();
    let mut started = HashSet::new();
    for event in &events {
        match event {
            Event::Finished(record) => {
                assert!(ids.insert(record.id), "released twice");
                assert!(record.history.len() <= MAX_HISTORY);
                assert!(record.syns.len() <= MAX_KEPT && record.resets.len() <= MAX_KEPT);
                assert!(record.first_frame <= record.last_frame);
            }
            Event::Tapped { id, .. } => {
                started.insert(*id);
            }
            Event::Released(_) => {}
        }
    }
    assert!(started.is_subset(&ids), "a connection never released");
    assert_eq!(tracker.live_count(), 0);
});
