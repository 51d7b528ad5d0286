//! Any bytes, cut anywhere, with skips inside what was allowed: the HTTP and TLS
//! framers never panic, and never allow a negative skip.
#![no_main]

use std::collections::VecDeque;

use _core::framing::{HttpFramer, TlsFramer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, stream)) = data.split_first() else {
        return;
    };
    let cut = usize::from(flags & 0x3f) + 1;
    let mut methods: VecDeque<String> = VecDeque::from(["GET".to_string(), "HEAD".to_string()]);
    let mut http = HttpFramer::new(flags & 0x40 != 0);
    let mut tls = TlsFramer::default();
    let (mut allowed, mut tls_allowed) = (0i128, 0i128);
    for (frame, piece) in stream.chunks(cut).enumerate() {
        let n = piece.len() as i128;
        if flags & 0x80 != 0 && n <= allowed {
            http.skipped(n);
            allowed -= n;
        } else {
            allowed = http.feed(piece, &mut methods);
        }
        if n <= tls_allowed {
            tls.skipped(n);
            tls_allowed -= n;
        } else {
            tls_allowed = tls.feed(piece, frame as i64, 0);
        }
        assert!(allowed >= 0 && tls_allowed >= 0);
    }
    http.close();
    let _ = http.exchange_part();
});
