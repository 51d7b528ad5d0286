//! Byte-string helpers: Python's bytes semantics, which the parsers replaced in the
//! core must keep exactly (`bytes.find`, `bytes.strip`), and the capture formats'
//! 32-bit words in either byte order.

/// `haystack.find(needle, from)`.
pub fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let tail = haystack.get(from..)?;
    let Some((&first, rest)) = needle.split_first() else {
        return Some(from);
    };
    // Candidates by memchr's SIMD scan for the first byte ("\r" of "\r\n\r\n": once
    // a line), then the rest compared: the windows-and-compare loop this replaced
    // called memcmp at every byte of every HTTP head, and memmem's searcher costs more
    // to build than these short heads take to scan.
    let mut at = 0;
    while let Some(i) = memchr::memchr(first, &tail[at..]) {
        let start = at + i;
        if tail[start + 1..].starts_with(rest) {
            return Some(from + start);
        }
        at = start + 1;
    }
    None
}

/// Python's ASCII whitespace: what `bytes.strip()` takes off.
pub fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// `bytes.strip()`.
pub fn strip(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_space(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(start, |i| i + 1);
    &s[start..end.max(start)]
}

/// The 32-bit word at `at`, in the file's byte order; None past the end.
pub fn word(buf: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let bytes: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(bytes)
    } else {
        u32::from_le_bytes(bytes)
    })
}

#[cfg(test)]
mod tests {
    use super::find;

    /// Python's `bytes.find(needle, start)`, the slow obvious way.
    fn reference(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
        if from > haystack.len() {
            return None;
        }
        (from..=haystack.len().saturating_sub(needle.len())).find(|&i| {
            haystack.len() >= i + needle.len() && &haystack[i..i + needle.len()] == needle
        })
    }

    #[test]
    fn find_agrees_with_bytes_find() {
        let mut noise = crate::noise::Noise::new(0x9e37_79b9_7f4a_7c15);
        let mut next = move |n: u64| noise.next() % n;
        let alphabet = b"\r\nab";
        for _ in 0..20_000 {
            let haystack: Vec<u8> = (0..next(24)).map(|_| alphabet[next(4) as usize]).collect();
            let needle: Vec<u8> = (0..next(5)).map(|_| alphabet[next(4) as usize]).collect();
            let from = next(28) as usize;
            assert_eq!(
                find(&haystack, &needle, from),
                reference(&haystack, &needle, from),
                "{haystack:?} {needle:?} {from}"
            );
        }
        assert_eq!(
            find(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"\r\n\r\n", 0),
            Some(23)
        );
        assert_eq!(find(b"ab", b"", 2), Some(2));
        assert_eq!(find(b"ab", b"", 3), None);
    }
}
