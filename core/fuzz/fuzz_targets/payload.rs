//! Any bytes: the first-message parsers and the text escaping never panic, and the
//! escaped text holds no control character.
#![no_main]

use _core::payload::{parse_request, parse_response, tls_alert, wire_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for fin in [false, true] {
        if let Some(request) = parse_request(data, fin) {
            for text in [&request.2, &request.4] {
                assert!(!text.chars().any(|c| c.is_control()));
            }
        }
        let _ = parse_response(data, fin);
    }
    let _ = tls_alert(data);
    assert!(!wire_text(data).chars().any(|c| c.is_control()));
});
