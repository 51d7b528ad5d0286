//! The decode and track targets' input: one byte (the link type's index in the core's
//! table, and 0x80 for pcapng), then frames, each a two-byte little-endian length and
//! that many bytes (a cut last frame keeps what there is).

use _core::decode::LINKTYPES;

/// (link type, pcapng, the frames), or None for an empty input.
pub fn frames(data: &[u8]) -> Option<(i64, bool, Vec<&[u8]>)> {
    let (&flags, mut rest) = data.split_first()?;
    let linktype = LINKTYPES[usize::from(flags & 0x7f) % LINKTYPES.len()].0;
    let mut out = Vec::new();
    while rest.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        out.push(&rest[2..2 + len]);
        rest = &rest[2 + len..];
    }
    Some((linktype, flags & 0x80 != 0, out))
}
