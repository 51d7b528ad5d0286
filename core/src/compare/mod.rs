//! Stages 4-6 of `compare` in the core, over the trackers' own records: the Python
//! engine (`match.py`, `coverage.py`, `judge.py`, `stream.py`) moves here stage by
//! stage, each held to its Python original by a differential test until that goes.
//!
//! Landed so far: `matching` (match.py: identities, scores, certain pairs, the clock
//! offset and the whole-capture matcher), `coverage` (coverage.py: the windows, the
//! delays, the evidence that a capture had stopped), `evidence` (judge.py's lines of
//! evidence and its injection hints), `judge` (judge.py's rules, with explain.py's
//! catalogue handed in), `stream` (stream.py: the engine that pairs, judges and
//! releases verdicts as the captures are read), and the words they write in
//! (`text`, `numbers`).

pub mod coverage;
pub mod evidence;
pub mod judge;
pub mod matching;
pub mod numbers;
mod printable;
pub mod stream;
pub mod text;
pub mod verdict_json;

/// The engine's tables: foldhash, seeded per process (the keys come from packets, and
/// SipHash was a twentieth of compare's instructions), as track.rs's tables.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub(crate) type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
