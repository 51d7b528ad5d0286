//! Any frames, captured at both ends: tracked as two captures and compared as `compare`
//! does it (the streaming engine, its end, each verdict's JSON). The engine never
//! panics, and every attempt of the edge capture is judged once or counted as another
//! connection.
//!
//! Input: frames.rs. Every frame is in the edge capture; a frame whose length is not a
//! multiple of 3 is in the origin capture too, 3.5 s later on its clock (so pairs form,
//! and some packets die on the way); the origin's records arrive in batches behind.
#![no_main]

mod frames;

use _core::compare::coverage::Recorded;
use _core::compare::evidence::Cite;
use _core::compare::judge::Catalogue;
use _core::compare::stream::{Settings, StreamingCompare};
use _core::compare::verdict_json::verdict_into;
use _core::decode::{Bytes, Decoder, Tally};
use _core::track::{Event, Record, Seg, Tracker};
use libfuzzer_sys::fuzz_target;

const OFFSET_NS: i128 = 3_500_000_000;

/// The records one capture's tracker releases, in order.
fn track(linktype: i64, pcapng: bool, frames: &[(i64, i128, &[u8])]) -> Vec<Box<Record>> {
    let mut decoder = Decoder::new();
    let mut tracker = Tracker::new(2_000_000_000, 100_000_000, false);
    let mut tally = Tally::default();
    let mut events = Vec::new();
    for &(frame, ts, bytes) in frames {
        let Ok(Some(segment)) = decoder.decode(frame, ts, linktype, bytes, pcapng, &mut tally)
        else {
            continue;
        };
        let held: &[u8] = match &segment.bytes {
            Bytes::Frame => bytes,
            Bytes::Reassembled(whole) => whole,
        };
        tracker.segment(&Seg::of(&segment, held), 0, &mut events);
    }
    tracker.finish(&mut events);
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::Finished(record) => Some(record),
            _ => None,
        })
        .collect()
}

fn window(first: i128, last: i128) -> Recorded {
    Recorded {
        start_ns: Some(first),
        end_ns: None,
        start_source: "first packet".into(),
        end_source: String::new(),
        last_packet_ns: Some(last),
        holes: Vec::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((linktype, pcapng, frames)) = frames::frames(data) else {
        return;
    };
    let (mut edge, mut origin) = (Vec::new(), Vec::new());
    let (mut frame, mut ts) = (0i64, 1_700_000_000_000_000_000i128);
    for bytes in frames {
        frame += 1;
        ts += i128::from(bytes.first().copied().unwrap_or(0)) * 50_000_000;
        edge.push((frame, ts, bytes));
        if bytes.len() % 3 != 0 {
            origin.push((frame, ts + OFFSET_NS, bytes));
        }
    }
    let edge_records = track(linktype, pcapng, &edge);
    let origin_records = track(linktype, pcapng, &origin);
    let attempts = edge_records.iter().filter(|r| !r.syns.is_empty()).count();
    let mut engine = StreamingCompare::new(
        Settings {
            release: data.len() % 2 == 0,
            ..Settings::default()
        },
        Catalogue::default(),
    );
    let first = |records: &[Box<Record>]| records.iter().map(|r| r.first_ts_ns).min();
    let last = |records: &[Box<Record>]| records.iter().map(|r| r.last_ts_ns).max();
    let edge_window = window(
        first(&edge_records).unwrap_or(ts),
        last(&edge_records).unwrap_or(ts),
    );
    let origin_window = window(
        first(&origin_records).unwrap_or(ts),
        last(&origin_records).unwrap_or(ts),
    );
    engine.start(true, edge_window.clone());
    engine.start(false, origin_window.clone());
    let mut origin_batches = origin_records.chunks(4).map(<[_]>::to_vec);
    for chunk in edge_records.chunks(3) {
        for r in chunk {
            engine.add_edge(r.clone());
        }
        engine.clock(true, chunk.last().map(|r| r.last_ts_ns), &[]);
        if let Some(batch) = origin_batches.next() {
            let clock = batch.last().map(|r| r.last_ts_ns);
            for r in batch {
                engine.add_origin(r);
            }
            engine.clock(false, clock, &[]);
        }
    }
    for batch in origin_batches {
        for r in batch {
            engine.add_origin(r);
        }
    }
    engine.clock(false, origin_window.last_packet_ns, &[]);
    let end = engine.finish(&edge_window, Some(&origin_window), false);
    let others: usize = end.others.iter().map(|&(_, n)| n).sum();
    assert_eq!(end.judged, engine.out.len());
    assert_eq!(
        end.judged + others,
        attempts,
        "an attempt judged twice, or never"
    );
    let cite = Cite::default();
    let mut text = String::new();
    for (n, (pair, verdict)) in engine.out.iter().enumerate() {
        text.clear();
        // a value beyond what the core writes exactly is left to Python, never a panic;
        // every verdict with its key packets (the report's ladder), ok ones too
        let _ = verdict_into(&mut text, n + 1, pair, verdict, [&cite, &cite], None, true);
    }
});
