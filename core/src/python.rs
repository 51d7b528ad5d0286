//! The Python module `pcapdiff._core`: each function takes and returns plain
//! Python values; columns go back as little-endian int64 byte strings
//! (`numpy.frombuffer(..., dtype="<i8")` reads them without a copy).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};

use crate::pcap::{self, Layout, Stop};
use crate::pcapng::{self, Interface};

fn column<'py>(py: Python<'py>, values: &[i64]) -> Bound<'py, PyBytes> {
    let mut bytes = Vec::with_capacity(values.len() * 8);
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    PyBytes::new(py, &bytes)
}

/// The columns of one chunk's pcap records, where the walk stopped and why:
/// (starts, caplens, ts_ns, wire_lens, pos, want, empty_run, stop, stop_at, caplen)
/// with stop "end", "zeros" or "too_big".
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
#[pyfunction]
#[pyo3(signature = (
    chunk, end, header_len, big_endian, nanoseconds, max_caplen, empty_limit, zero_run_bytes,
    chunk_bytes, empty_run
))]
fn walk_pcap<'py>(
    py: Python<'py>,
    chunk: &Bound<'py, PyByteArray>,
    end: usize,
    header_len: usize,
    big_endian: bool,
    nanoseconds: bool,
    max_caplen: u32,
    empty_limit: u32,
    zero_run_bytes: usize,
    chunk_bytes: usize,
    empty_run: u32,
) -> PyResult<(
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    usize,
    usize,
    u32,
    &'static str,
    usize,
    u32,
)> {
    if header_len < 16 {
        return Err(PyRuntimeError::new_err(
            "a pcap record header is at least 16 bytes",
        ));
    }
    let layout = Layout {
        header_len,
        big_endian,
        nanoseconds,
        max_caplen,
        empty_limit,
        zero_run_bytes,
        chunk_bytes,
    };
    // SAFETY: no Python code runs while the slice is borrowed (the GIL is held and
    // nothing here calls back into Python), so the bytearray cannot be resized.
    let data = unsafe { chunk.as_bytes() };
    let walked = std::panic::catch_unwind(|| pcap::walk(data, end, layout, empty_run))
        .map_err(|_| PyRuntimeError::new_err("pcap walk failed (a bug: please report it)"))?;
    let (stop, at, caplen) = match walked.stop {
        Some(Stop::Zeros { at }) => ("zeros", at, 0),
        Some(Stop::TooBig { at, caplen }) => ("too_big", at, caplen),
        _ => ("end", walked.pos, 0),
    };
    Ok((
        column(py, &walked.starts),
        column(py, &walked.caplens),
        column(py, &walked.ts_ns),
        column(py, &walked.wire_lens),
        walked.pos,
        walked.want,
        walked.empty_run,
        stop,
        at,
        caplen,
    ))
}

/// The consecutive Enhanced Packet Blocks of `buf` from `pos`, as columns (starts,
/// caplens, ts_ns, wire_lens, linktypes) and the offset of the first block not taken.
/// `interfaces`: (linktype, num, den, offset_ns) per interface of the section.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
#[pyfunction]
#[pyo3(signature = (buf, pos, end, big_endian, interfaces, max_block_len, limit))]
fn walk_pcapng<'py>(
    py: Python<'py>,
    buf: &Bound<'py, PyBytes>,
    pos: usize,
    end: usize,
    big_endian: bool,
    interfaces: Vec<(i64, i128, i128, i128)>,
    max_block_len: u32,
    limit: usize,
) -> PyResult<(
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    usize,
)> {
    let ifaces: Vec<Interface> = interfaces
        .into_iter()
        .map(|(linktype, num, den, offset_ns)| Interface {
            linktype,
            num,
            den,
            offset_ns,
        })
        .collect();
    let data = buf.as_bytes(); // immutable bytes: safe to read without the GIL
    let run = py
        .detach(|| {
            std::panic::catch_unwind(|| {
                pcapng::walk(data, pos, end, big_endian, &ifaces, max_block_len, limit)
            })
        })
        .map_err(|_| PyRuntimeError::new_err("pcapng walk failed (a bug: please report it)"))?;
    Ok((
        column(py, &run.starts),
        column(py, &run.caplens),
        column(py, &run.ts_ns),
        column(py, &run.wire_lens),
        column(py, &run.linktypes),
        run.pos,
    ))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(walk_pcap, m)?)?;
    m.add_function(wrap_pyfunction!(walk_pcapng, m)?)?;
    Ok(())
}
