//! Any bytes: the pcapng EPB walk never panics, takes only whole blocks inside the
//! buffer, and only ever moves forward.
#![no_main]

use _core::pcapng::{walk, Interface};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, buf)) = data.split_first() else {
        return;
    };
    let interfaces = [
        Interface {
            linktype: 1,
            num: 1000,
            den: 1,
            offset_ns: 0,
        },
        Interface {
            linktype: 276,
            num: 1_000_000_000,
            den: 1 << 20,
            offset_ns: -5,
        },
    ];
    let pos = usize::from(flags & 0x0f);
    let run = walk(
        buf,
        pos,
        buf.len(),
        flags & 0x10 != 0,
        &interfaces,
        1 << 24,
        1 << 16,
    );
    assert!(run.pos >= pos);
    assert!(run.pos <= buf.len().max(pos));
    for (start, caplen) in run.starts.iter().zip(&run.caplens) {
        assert!(*start as usize + *caplen as usize <= run.pos);
    }
});
