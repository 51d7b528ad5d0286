//! pcapdiff's per-packet core. The first stage here is the classic pcap record walk:
//! where each record of a chunk starts, and its header's four words, for a whole
//! chunk at once (`pcap`). The bindings (`python`) hand those columns to the Python
//! reader as little-endian byte strings numpy reads without a copy.
//!
//! No input may panic: every index is checked, every length is bounded by the
//! caller's limit, and the bindings catch a panic as the last guard.

pub mod bytes;
pub mod compare;
pub mod conns_json;
pub mod decode;
pub mod framing;
pub mod parallel;
pub mod payload;
pub mod pcap;
pub mod pcapng;
pub mod track;

// mimalloc (allocator.rs says why, and how it is asked). How long its free pages wait
// before going back to the system, and no huge pages: `python::set_allocator_options`.
#[cfg(feature = "python")]
mod allocator;
#[cfg(feature = "python")]
#[global_allocator]
static ALLOCATOR: allocator::Allocator = allocator::Allocator;

#[cfg(test)]
mod noise;

#[cfg(feature = "python")]
mod python;
#[cfg(feature = "python")]
mod python_records;
