//! The `conns --json` pipeline without Python, for profiling the core alone:
//! read a classic little-endian microsecond pcap, walk, decode, track, write JSON.
//!
//!     cargo run --release --example pipeline -- FILE [read|walk|decode|track|json]
use std::io::{Read, Write};

// The extension's allocator (the extension, feature "python", brings its own).
#[cfg(not(feature = "python"))]
#[path = "../src/allocator.rs"]
mod allocator;
#[cfg(not(feature = "python"))]
#[global_allocator]
static ALLOCATOR: allocator::Allocator = allocator::Allocator;
use std::net::{Ipv4Addr, Ipv6Addr};

use _core::conns_json::record_into;
use _core::decode::{Addr, Bytes, Decoder, Segment, Tally};
use _core::pcap::{walk, Layout};
use _core::track::{Event, Seg, Tracker};

fn text(a: Addr) -> String {
    let s = a.as_slice();
    match s.len() {
        4 => Ipv4Addr::new(s[0], s[1], s[2], s[3]).to_string(),
        16 => Ipv6Addr::from(<[u8; 16]>::try_from(s).unwrap_or([0; 16])).to_string(),
        _ => String::new(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let depth = ["read", "walk", "decode", "track", "json"]
        .iter()
        .position(|d| Some(*d) == args.get(2).map(String::as_str))
        .unwrap_or(4);
    let mut file = std::fs::File::open(&args[1]).expect("open");
    let layout = Layout {
        header_len: 16,
        big_endian: false,
        nanoseconds: false,
        max_caplen: 262_144,
        empty_limit: 8,
        zero_run_bytes: 4096,
        chunk_bytes: 1 << 20,
    };
    let mut buf = vec![0u8; (1 << 20) + (64 << 10)];
    let mut have = 0usize;
    let mut skip = 24usize;
    let mut decoder = Decoder::new();
    let mut segment = Segment::empty();
    let mut tracker = Tracker::new(300_000_000_000, 2_000_000_000, false);
    let mut tally = Tally::default();
    let mut events = Vec::new();
    let mut out = String::new();
    let mut sink = std::io::sink();
    // the texts cached by address, as the extension's writer caches them
    let mut texts: std::collections::HashMap<Addr, String> = std::collections::HashMap::new();
    let (mut frames, mut records, mut bytes_out) = (0i64, 0usize, 0usize);
    loop {
        let got = file.read(&mut buf[have..]).expect("read");
        have += got;
        if got == 0 && have <= skip {
            break;
        }
        if depth == 0 {
            have = 0;
            skip = 0;
            if got == 0 {
                break;
            }
            continue;
        }
        let w = walk(&buf, skip, have, layout, 0);
        for i in 0..w.starts.len() {
            frames += 1;
            if depth < 2 {
                continue;
            }
            let start = w.starts[i] as usize;
            let bytes = &buf[start..start + w.caplens[i] as usize];
            let ts = i128::from(w.ts_ns[i]);
            let Ok(true) =
                decoder.decode_into(frames, ts, 1, bytes, false, &mut tally, &mut segment)
            else {
                continue;
            };
            if depth < 3 {
                continue;
            }
            let held: &[u8] = match &segment.bytes {
                Bytes::Frame => bytes,
                Bytes::Reassembled(whole) => whole,
            };
            tracker.segment(&Seg::of(&segment, held), 0, &mut events);
        }
        let end = w.pos;
        buf.copy_within(end..have, 0);
        have -= end;
        skip = 0;
        for event in events.drain(..) {
            if let Event::Finished(r) = event {
                records += 1;
                if depth >= 4 {
                    for a in [r.client.0, r.server.0] {
                        texts.entry(a).or_insert_with(|| text(a));
                    }
                    record_into(&mut out, &r, &texts[&r.client.0], &texts[&r.server.0]);
                    out.push_str(",\n  ");
                }
            }
        }
        bytes_out += out.len();
        sink.write_all(out.as_bytes()).expect("write");
        out.clear();
        if got == 0 {
            break;
        }
    }
    tracker.finish(&mut events);
    eprintln!(
        "frames {frames} records {records}+{} json {bytes_out}",
        events.len()
    );
}
