//! The Python module `pcapdiff._core`: each function takes and returns plain
//! Python values; columns go back as little-endian int64 byte strings
//! (`numpy.frombuffer(..., dtype="<i8")` reads them without a copy).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyTuple};
use pyo3::BoundObject;

use std::collections::HashMap;

use pyo3::buffer::PyBuffer;

use crate::conns_json;
use crate::decode::{self, Addr, Tally};
use crate::framing::{self, Methods};
use crate::payload;
use crate::pcap::{self, Layout, Stop};
use crate::pcapng::{self, Interface};
use crate::track::{self, Event, Record, Seg};

fn column<'py>(py: Python<'py>, values: &[i64]) -> PyResult<Bound<'py, PyBytes>> {
    // Written in place, eight bytes at a time (a Vec pushed to first cost ~20
    // instructions a value: 0.1 G of a 1M-packet `conns`).
    PyBytes::new_with(py, values.len() * 8, |bytes| {
        for (out, v) in bytes.chunks_exact_mut(8).zip(values) {
            out.copy_from_slice(&v.to_ne_bytes());
        }
        Ok(())
    })
}

/// A column as the walks give it (native-endian int64 bytes) back as numbers.
fn numbers(column: &[u8]) -> impl Iterator<Item = i64> + '_ {
    column
        .chunks_exact(8)
        .map(|b| i64::from_ne_bytes(b.try_into().unwrap_or_default()))
}

/// What the reader's summary takes from a batch's columns: how many records were cut
/// by the snap length, and the earliest and latest timestamp (None: no record).
#[pyfunction]
fn column_facts(
    caplens: &[u8],
    wire_lens: &[u8],
    ts_ns: &[u8],
) -> (usize, Option<i64>, Option<i64>) {
    let sliced = numbers(caplens)
        .zip(numbers(wire_lens))
        .filter(|(cap, wire)| cap < wire)
        .count();
    (sliced, numbers(ts_ns).min(), numbers(ts_ns).max())
}

/// The frame numbers `first, first + 1, ...` (`count` of them) as a column.
#[pyfunction]
fn frame_numbers(py: Python<'_>, first: i64, count: usize) -> PyResult<Bound<'_, PyBytes>> {
    let numbers: Vec<i64> = (0..count as i64).map(|i| first.saturating_add(i)).collect();
    column(py, &numbers)
}

/// A link-type column cut into runs of one type: (first index, end index, type).
#[pyfunction]
fn linktype_runs(linktypes: &[u8]) -> Vec<(usize, usize, i64)> {
    let mut runs: Vec<(usize, usize, i64)> = Vec::new();
    for (i, kind) in numbers(linktypes).enumerate() {
        match runs.last_mut() {
            Some(run) if run.2 == kind => run.1 = i + 1,
            _ => runs.push((i, i + 1, kind)),
        }
    }
    runs
}

/// The columns of the pcap records in chunk[begin:end] (offsets the chunk's), where
/// the walk stopped and why:
/// (starts, caplens, ts_ns, wire_lens, pos, want, empty_run, stop, stop_at, caplen)
/// with stop "end", "zeros" or "too_big".
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
#[pyfunction]
#[pyo3(signature = (
    chunk, begin, end, header_len, big_endian, nanoseconds, max_caplen, empty_limit,
    zero_run_bytes, chunk_bytes, empty_run
))]
fn walk_pcap<'py>(
    py: Python<'py>,
    chunk: &Bound<'py, PyByteArray>,
    begin: usize,
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
    let walked = std::panic::catch_unwind(|| pcap::walk(data, begin, end, layout, empty_run))
        .map_err(|_| PyRuntimeError::new_err("pcap walk failed (a bug: please report it)"))?;
    let (stop, at, caplen) = match walked.stop {
        Some(Stop::Zeros { at }) => ("zeros", at, 0),
        Some(Stop::TooBig { at, caplen }) => ("too_big", at, caplen),
        _ => ("end", walked.pos, 0),
    };
    Ok((
        column(py, &walked.starts)?,
        column(py, &walked.caplens)?,
        column(py, &walked.ts_ns)?,
        column(py, &walked.wire_lens)?,
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
    buf: &Bound<'py, PyAny>,
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
    // Bytes, or read.py's chunk bytearray with a buffer export held while the GIL is
    // released (an exported bytearray cannot be resized).
    let _export = PyBuffer::<u8>::get(buf)?;
    let data = read_only(buf)?;
    let run = py
        .detach(|| {
            std::panic::catch_unwind(|| {
                pcapng::walk(data, pos, end, big_endian, &ifaces, max_block_len, limit)
            })
        })
        .map_err(|_| PyRuntimeError::new_err("pcapng walk failed (a bug: please report it)"))?;
    Ok((
        column(py, &run.starts)?,
        column(py, &run.caplens)?,
        column(py, &run.ts_ns)?,
        column(py, &run.wire_lens)?,
        column(py, &run.linktypes)?,
        run.pos,
    ))
}

/// The Python deque of a connection's request methods, shared by its two framers.
struct DequeMethods<'a, 'py>(&'a Bound<'py, PyAny>);

impl Methods for DequeMethods<'_, '_> {
    fn len(&self) -> usize {
        self.0.len().unwrap_or(0)
    }
    fn push(&mut self, method: String) {
        let _ = self.0.call_method1("append", (method,));
    }
    fn pop_front(&mut self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        self.0.call_method0("popleft").ok()?.extract().ok()
    }
}

/// HTTP/1.x message boundaries of one direction (see core/src/framing.rs).
#[pyclass(module = "pcapdiff._core", name = "HttpFramer")]
struct PyHttpFramer {
    inner: framing::HttpFramer,
    methods: Py<PyAny>,
}

#[pymethods]
impl PyHttpFramer {
    #[new]
    fn new(is_request: bool, methods: Py<PyAny>) -> Self {
        PyHttpFramer {
            inner: framing::HttpFramer::new(is_request),
            methods,
        }
    }

    /// The next in-order bytes; returns how many after them may pass unseen.
    fn feed(&mut self, py: Python<'_>, data: &[u8]) -> i128 {
        let deque = self.methods.bind(py);
        self.inner.feed(data, &mut DequeMethods(deque))
    }

    fn skipped(&mut self, n: i128) {
        self.inner.skipped(n);
    }

    fn allowance(&self) -> i128 {
        self.inner.allowance()
    }

    fn lose(&mut self) {
        self.inner.lose();
    }

    fn close(&mut self) {
        self.inner.close();
    }

    fn exchange_part(&self) -> (i64, i128, Option<i128>, String) {
        self.inner.exchange_part()
    }

    #[getter]
    fn is_request(&self) -> bool {
        self.inner.is_request
    }
    #[getter]
    fn state(&self) -> u8 {
        self.inner.state
    }
    #[getter]
    fn remaining(&self) -> i128 {
        self.inner.remaining
    }
    #[getter]
    fn messages(&self) -> i64 {
        self.inner.messages
    }
    #[getter]
    fn message_bytes(&self) -> i128 {
        self.inner.message_bytes
    }
    #[getter]
    fn expected(&self) -> Option<i128> {
        self.inner.expected
    }
    #[getter]
    fn problem(&self) -> String {
        self.inner.problem.clone()
    }
    #[getter]
    fn methods(&self, py: Python<'_>) -> Py<PyAny> {
        self.methods.clone_ref(py)
    }
}

/// TLS record boundaries of one direction (see core/src/framing.rs).
#[pyclass(module = "pcapdiff._core", name = "TlsFramer")]
#[derive(Default)]
struct PyTlsFramer {
    inner: framing::TlsFramer,
}

#[pymethods]
impl PyTlsFramer {
    #[new]
    fn new() -> Self {
        PyTlsFramer::default()
    }

    fn feed(&mut self, data: &[u8], frame: i64, ts_ns: i128) -> i128 {
        self.inner.feed(data, frame, ts_ns)
    }

    fn skipped(&mut self, n: i128) {
        self.inner.skipped(n);
    }

    fn lose(&mut self) {
        self.inner.lose();
    }

    #[getter]
    fn state(&self) -> u8 {
        self.inner.state
    }
    #[getter]
    fn remaining(&self) -> i128 {
        self.inner.remaining
    }
    #[getter]
    fn app_count(&self) -> i64 {
        self.inner.app_count
    }
    /// (frame, ts_ns, length) of the first application data records.
    #[getter]
    fn app_records<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        self.inner
            .app_records
            .iter()
            .map(|&(frame, ts, length)| (frame, ts, length).into_pyobject(py))
            .collect()
    }
    #[getter]
    fn problem(&self) -> String {
        self.inner.problem.clone()
    }
}

/// The client's first message: None while more bytes could complete it, else
/// (kind, method, target, version, host, first_bytes).
#[pyfunction]
#[pyo3(signature = (data, r#final))]
fn parse_request(data: &[u8], r#final: bool) -> Option<payload::RequestFields> {
    payload::parse_request(data, r#final)
}

/// The server's first message: None while more bytes could complete it, else
/// (kind, status, reason, tls_version, alert, first_bytes).
#[pyfunction]
#[pyo3(signature = (data, r#final))]
fn parse_response(data: &[u8], r#final: bool) -> Option<payload::ResponseFields> {
    payload::parse_response(data, r#final)
}

/// 'fatal handshake_failure' if `data` starts with a cleartext TLS alert, else ''.
#[pyfunction]
fn tls_alert(data: &[u8]) -> String {
    payload::tls_alert(data)
}

/// Bytes from a packet as text that is safe to show anywhere (text.wire_text).
#[pyfunction]
fn wire_text(data: &[u8]) -> String {
    payload::wire_text(data)
}

/// The decoder of one capture (core/src/decode.rs) and the address objects it has
/// handed out: one Python bytes object per address, so the tracker's dict keys hash
/// each address once.
#[pyclass(module = "pcapdiff._core", name = "Decoder")]
struct PyDecoder {
    inner: decode::Decoder,
    addresses: AddressTable<Py<PyBytes>>,
}

const MAX_ADDRESS_OBJECTS: usize = 1 << 16;
/// Looked up twice a record and once a tapped segment: foldhash, as the tracker's
/// tables (SipHash took ~100 instructions a lookup).
type AddressTable<V> = HashMap<Addr, V, foldhash::fast::RandomState>;

/// A batch's segments before any Python object is made: the segment and where its
/// frame starts in the batch's buffer.
type Found = Vec<(decode::Segment, usize)>;

/// A batch decoded ahead of its tracking, on the reading thread (``Decoder.decode_ahead``):
/// its TCP segments, each with where its frame starts in the chunk and its captured
/// length, and the chunk they lie in, held (and exported: it cannot be resized) until
/// ``Tracker.feed_decoded`` has tracked them.
#[pyclass(module = "pcapdiff._core", name = "DecodedBatch")]
struct PyDecodedBatch {
    buf: Py<PyAny>,
    _export: PyBuffer<u8>,
    segments: Vec<(decode::Segment, usize, usize)>,
}

fn int64_column(py: Python<'_>, column: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
    PyBuffer::<i64>::get(column)?.to_vec(py)
}

/// Timestamps: an int64 column, or Python ints when one does not fit (a bogus pcapng
/// timestamp past 2262).
fn stamp_column(py: Python<'_>, column: &Bound<'_, PyAny>) -> PyResult<Vec<i128>> {
    match PyBuffer::<i64>::get(column) {
        Ok(buffer) => Ok(buffer.to_vec(py)?.into_iter().map(i128::from).collect()),
        Err(_) => column
            .try_iter()?
            .map(|v| v.and_then(|v| v.extract::<i128>()))
            .collect(),
    }
}

impl PyDecoder {
    fn address<'py>(&mut self, py: Python<'py>, addr: Addr) -> Bound<'py, PyAny> {
        if self.addresses.len() >= MAX_ADDRESS_OBJECTS {
            self.addresses.clear();
        }
        self.addresses
            .entry(addr)
            .or_insert_with(|| PyBytes::new(py, addr.as_slice()).unbind())
            .bind(py)
            .clone()
            .into_any()
    }

    /// (rows, tcp packets, non-TCP packets, fragments held, anomalies, ICMP errors,
    /// the unsupported link type or None).
    fn outcome<'py>(
        &mut self,
        py: Python<'py>,
        buf: &Bound<'py, PyAny>,
        found: Found,
        tally: Tally,
        unsupported: Option<i64>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let rows = PyList::empty(py);
        for (seg, start) in found {
            let (data, base) = match &seg.bytes {
                decode::Bytes::Frame => (buf.clone(), start),
                decode::Bytes::Reassembled(whole) => (PyBytes::new(py, whole).into_any(), 0),
            };
            let src = self.address(py, seg.src);
            let dst = self.address(py, seg.dst);
            let row = PyTuple::new(
                py,
                [
                    seg.frame.into_pyobject(py)?.into_any(),
                    seg.ts_ns.into_pyobject(py)?.into_any(),
                    src,
                    seg.sport.into_pyobject(py)?.into_any(),
                    dst,
                    seg.dport.into_pyobject(py)?.into_any(),
                    seg.flags.into_pyobject(py)?.into_any(),
                    seg.seq.into_pyobject(py)?.into_any(),
                    seg.ack.into_pyobject(py)?.into_any(),
                    seg.win.into_pyobject(py)?.into_any(),
                    seg.payload_len.into_pyobject(py)?.into_any(),
                    seg.ttl.into_pyobject(py)?.into_any(),
                    seg.ip_id.into_pyobject(py)?.into_any(),
                    data,
                    (base + seg.tcp_at).into_pyobject(py)?.into_any(),
                    (base + seg.payload_at).into_pyobject(py)?.into_any(),
                    (base + seg.captured_end).into_pyobject(py)?.into_any(),
                ],
            )?;
            rows.append(row)?;
        }
        let anomalies = PyList::empty(py);
        for a in tally.anomalies {
            anomalies.append((a.frame, a.code, a.detail))?;
        }
        let icmp = PyList::empty(py);
        for e in tally.icmp_errors {
            let addresses = (
                PyBytes::new(py, e.sender.as_slice()),
                PyBytes::new(py, e.src.as_slice()),
                PyBytes::new(py, e.dst.as_slice()),
            );
            icmp.append((
                (e.frame, e.ts_ns, addresses.0, e.kind, e.mtu),
                (addresses.1, e.sport, addresses.2, e.dport, e.seq),
            ))?;
        }
        (
            rows,
            tally.tcp_packets,
            tally.non_tcp_packets,
            tally.ip_fragments,
            anomalies,
            icmp,
            unsupported,
        )
            .into_pyobject(py)
    }
}

/// A FrameBatch's columns, checked to be of one length.
struct Columns {
    frames: Vec<i64>,
    starts: Vec<i64>,
    caplens: Vec<i64>,
    stamps: Vec<i128>,
}

impl Columns {
    fn of(
        py: Python<'_>,
        frames: &Bound<'_, PyAny>,
        starts: &Bound<'_, PyAny>,
        caplens: &Bound<'_, PyAny>,
        ts_ns: &Bound<'_, PyAny>,
    ) -> PyResult<Columns> {
        let columns = Columns {
            frames: int64_column(py, frames)?,
            starts: int64_column(py, starts)?,
            caplens: int64_column(py, caplens)?,
            stamps: stamp_column(py, ts_ns)?,
        };
        let n = columns.frames.len();
        if columns.starts.len() != n || columns.caplens.len() != n || columns.stamps.len() != n {
            return Err(PyRuntimeError::new_err("batch columns of unequal length"));
        }
        Ok(columns)
    }

    /// Decode each frame of `data`; `segment` gets each TCP segment, the frame's bytes
    /// and where they start. The unsupported link type that stopped it, if one did.
    /// A panic (a bug) is an error, not an abort.
    fn decode_each(
        &self,
        decoder: &mut decode::Decoder,
        data: &[u8],
        linktype: i64,
        pcapng: bool,
        tally: &mut Tally,
        mut segment: impl FnMut(&decode::Segment, &[u8], usize),
    ) -> PyResult<Option<i64>> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut found = decode::Segment::empty(); // each frame's, in place
            for i in 0..self.frames.len() {
                let start = usize::try_from(self.starts[i]).unwrap_or(usize::MAX);
                let len = usize::try_from(self.caplens[i]).unwrap_or(0);
                let bytes = data
                    .get(start..start.saturating_add(len))
                    .unwrap_or_default();
                let (frame, ts_ns) = (self.frames[i], self.stamps[i]);
                match decoder.decode_into(frame, ts_ns, linktype, bytes, pcapng, tally, &mut found)
                {
                    Ok(true) => segment(&found, bytes, start),
                    Ok(false) => {}
                    Err(decode::UnsupportedLinkType(lt)) => return Some(lt),
                }
            }
            None
        }))
        .map_err(|_| {
            PyRuntimeError::new_err("the core failed on a frame (a bug: please report it)")
        })
    }
}

/// The bytes of a bytes or bytearray object, for as long as no Python code runs.
fn read_only<'a>(buf: &'a Bound<'_, PyAny>) -> PyResult<&'a [u8]> {
    if let Ok(bytes) = buf.cast::<PyBytes>() {
        return Ok(bytes.as_bytes());
    }
    let array = buf.cast::<PyByteArray>()?;
    // SAFETY: the caller decodes from the slice and makes no Python object (nor calls
    // any Python code) until it is done with it, so the bytearray cannot be resized;
    // where it releases the GIL meanwhile, it holds a buffer export, which forbids it.
    Ok(unsafe { array.as_bytes() })
}

#[pymethods]
impl PyDecoder {
    #[new]
    fn new() -> Self {
        PyDecoder {
            inner: decode::Decoder::new(),
            addresses: AddressTable::default(),
        }
    }

    /// The TCP segments of one batch of frames (``read.FrameBatch`` columns) as
    /// Segment rows in frame order, and what else decoding found.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (linktype, buf, frames, starts, caplens, ts_ns, pcapng))]
    fn decode_batch<'py>(
        &mut self,
        py: Python<'py>,
        linktype: i64,
        buf: &Bound<'py, PyAny>,
        frames: &Bound<'py, PyAny>,
        starts: &Bound<'py, PyAny>,
        caplens: &Bound<'py, PyAny>,
        ts_ns: &Bound<'py, PyAny>,
        pcapng: bool,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let columns = Columns::of(py, frames, starts, caplens, ts_ns)?;
        let data = read_only(buf)?;
        let mut tally = Tally::default();
        let mut found: Found = Vec::with_capacity(columns.frames.len());
        let unsupported = columns.decode_each(
            &mut self.inner,
            data,
            linktype,
            pcapng,
            &mut tally,
            |s, _, at| found.push((s.clone(), at)),
        )?;
        self.outcome(py, buf, found, tally, unsupported)
    }

    /// Decode one batch for ``Tracker.feed_decoded`` to track later (on another
    /// thread): (the DecodedBatch, what else decoding found as ``decode_batch`` says
    /// it, with no rows). The GIL is released while it decodes.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (linktype, buf, frames, starts, caplens, ts_ns, pcapng))]
    fn decode_ahead<'py>(
        &mut self,
        py: Python<'py>,
        linktype: i64,
        buf: &Bound<'py, PyAny>,
        frames: &Bound<'py, PyAny>,
        starts: &Bound<'py, PyAny>,
        caplens: &Bound<'py, PyAny>,
        ts_ns: &Bound<'py, PyAny>,
        pcapng: bool,
    ) -> PyResult<(PyDecodedBatch, Bound<'py, PyTuple>)> {
        let columns = Columns::of(py, frames, starts, caplens, ts_ns)?;
        let export = PyBuffer::<u8>::get(buf)?; // no resizing while the GIL is released
        let data = read_only(buf)?;
        let mut tally = Tally::default();
        let mut segments = Vec::with_capacity(columns.frames.len());
        let decoder = &mut self.inner;
        let unsupported = py.detach(|| {
            columns.decode_each(
                decoder,
                data,
                linktype,
                pcapng,
                &mut tally,
                |s, bytes, at| {
                    segments.push((s.clone(), at, bytes.len()));
                },
            )
        })?;
        let found = self.outcome(py, buf, Vec::new(), tally, unsupported)?;
        let decoded = PyDecodedBatch {
            buf: buf.clone().unbind(),
            _export: export,
            segments,
        };
        Ok((decoded, found))
    }

    /// One frame, as ``decode_batch`` does a batch of one.
    #[pyo3(signature = (frame, ts_ns, linktype, data, pcapng))]
    fn decode_frame<'py>(
        &mut self,
        py: Python<'py>,
        frame: i64,
        ts_ns: i128,
        linktype: i64,
        data: &Bound<'py, PyAny>,
        pcapng: bool,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let bytes = read_only(data)?;
        let mut tally = Tally::default();
        let decoder = &mut self.inner;
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            decoder.decode(frame, ts_ns, linktype, bytes, pcapng, &mut tally)
        }))
        .map_err(|_| PyRuntimeError::new_err("decoding failed (a bug: please report it)"))?;
        let (found, unsupported) = match decoded {
            Ok(Some(segment)) => (vec![(segment, 0)], None),
            Ok(None) => (Vec::new(), None),
            Err(decode::UnsupportedLinkType(lt)) => (Vec::new(), Some(lt)),
        };
        self.outcome(py, data, found, tally, unsupported)
    }
}

/// Raw TCP options: (mss, wscale, sack_permitted, sack_blocks, tsval, tsecr, layout).
#[pyfunction]
fn parse_tcp_options<'py>(py: Python<'py>, raw: &[u8]) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(py, options_fields(py, track::parse_tcp_options(raw))?)
}

/// `ns / 1_000_000_000` as `conns --json` writes it (orjson's text of Python's
/// division), or None when the core leaves it to Python.
#[pyfunction]
fn seconds_json(ns: i128) -> Option<String> {
    let mut out = String::new();
    conns_json::write_seconds(&mut out, ns).map(|()| out)
}

/// The name of a link type ("unknown" for one the table does not have).
#[pyfunction]
fn linktype_name(linktype: i64) -> &'static str {
    decode::linktype_name(linktype)
}

fn any<'py, T>(py: Python<'py>, value: T) -> PyResult<Bound<'py, PyAny>>
where
    T: IntoPyObject<'py>,
    PyErr: From<T::Error>,
{
    Ok(value.into_pyobject(py)?.into_any().into_bound())
}

/// A time or byte count as a Python int: through i64 where it fits (every capture's
/// times), pyo3's slower 128-bit conversion only past it.
fn wide(py: Python<'_>, value: i128) -> PyResult<Bound<'_, PyAny>> {
    match i64::try_from(value) {
        Ok(small) => any(py, small),
        Err(_) => any(py, value),
    }
}

fn opt_wide(py: Python<'_>, value: Option<i128>) -> PyResult<Bound<'_, PyAny>> {
    match value {
        Some(v) => wide(py, v),
        None => any(py, py.None()),
    }
}

/// The record classes of `pcapdiff.model`, fetched once: the core makes the
/// `Connection` records itself (a NamedTuple is a tuple of its class: `tuple.__new__`).
pub(crate) struct Model {
    tuple_new: Py<PyAny>,
    connection: Py<PyAny>,
    endpoint: Py<PyAny>,
    packet_ref: Py<PyAny>,
    reset: Py<PyAny>,
    tcp_options: Py<PyAny>,
    direction: Py<PyAny>,
    request: Py<PyAny>,
    response: Py<PyAny>,
    tls_alert: Py<PyAny>,
    exchange: Py<PyAny>,
    format_address: Py<PyAny>,
    addresses: AddressTable<(Py<PyAny>, String)>, // the text of each address seen
}

impl Model {
    pub(crate) fn new(py: Python<'_>) -> PyResult<Model> {
        let model = py.import("pcapdiff.model")?;
        let class = |name: &str| -> PyResult<Py<PyAny>> { Ok(model.getattr(name)?.unbind()) };
        Ok(Model {
            tuple_new: py
                .import("builtins")?
                .getattr("tuple")?
                .getattr("__new__")?
                .unbind(),
            connection: class("Connection")?,
            endpoint: class("Endpoint")?,
            packet_ref: class("PacketRef")?,
            reset: class("Reset")?,
            tcp_options: class("TcpOptions")?,
            direction: class("Direction")?,
            request: class("Request")?,
            response: class("Response")?,
            tls_alert: class("TlsAlert")?,
            exchange: class("Exchange")?,
            format_address: class("format_address")?,
            addresses: AddressTable::default(),
        })
    }

    pub(crate) fn make<'py>(
        &self,
        py: Python<'py>,
        class: &Py<PyAny>,
        fields: Vec<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.tuple_new
            .bind(py)
            .call1((class.bind(py), PyTuple::new(py, fields)?))
    }

    /// An address's text (format_address's), as a Python str and as Rust's.
    pub(crate) fn address<'py>(
        &mut self,
        py: Python<'py>,
        addr: Addr,
    ) -> PyResult<(Bound<'py, PyAny>, String)> {
        self.cache_address(py, addr)?;
        match self.addresses.get(&addr) {
            Some((text, rust)) => Ok((text.bind(py).clone(), rust.clone())),
            None => Err(PyRuntimeError::new_err("an address just cached is missing")),
        }
    }

    /// The address's text made and kept, if it is not kept yet.
    fn cache_address(&mut self, py: Python<'_>, addr: Addr) -> PyResult<()> {
        if self.addresses.contains_key(&addr) {
            return Ok(());
        }
        if self.addresses.len() >= MAX_ADDRESS_OBJECTS {
            self.addresses.clear();
        }
        let text = self
            .format_address
            .bind(py)
            .call1((PyBytes::new(py, addr.as_slice()),))?;
        let rust: String = text.extract()?;
        self.addresses.insert(addr, (text.unbind(), rust));
        Ok(())
    }

    fn endpoint<'py>(
        &mut self,
        py: Python<'py>,
        (addr, port): (Addr, u16),
    ) -> PyResult<Bound<'py, PyAny>> {
        let (text, _) = self.address(py, addr)?;
        self.make(py, &self.endpoint, vec![text, any(py, port)?])
    }

    /// The record's `conns --json` text (None: the Python renderer writes it).
    fn json(&mut self, py: Python<'_>, r: &Record) -> PyResult<Option<String>> {
        let mut out = String::with_capacity(2048); // a record is 1-2 KB
        Ok(self.json_into(py, r, &mut out)?.then_some(out))
    }

    /// The record's `conns --json` text appended to `out`; false (and `out` as it was)
    /// where the Python renderer must write it.
    fn json_into(&mut self, py: Python<'_>, r: &Record, out: &mut String) -> PyResult<bool> {
        self.cache_address(py, r.client.0)?;
        self.cache_address(py, r.server.0)?;
        // Both texts borrowed from the cache, not copied: a record is written 54,000
        // times a second. (Only if the second lookup emptied a full cache are they not
        // both there.)
        if let (Some((_, client)), Some((_, server))) = (
            self.addresses.get(&r.client.0),
            self.addresses.get(&r.server.0),
        ) {
            return Ok(conns_json::record_into(out, r, client, server));
        }
        let (_, client) = self.address(py, r.client.0)?;
        let (_, server) = self.address(py, r.server.0)?;
        Ok(conns_json::record_into(out, r, &client, &server))
    }

    fn refs<'py>(
        &self,
        py: Python<'py>,
        refs: Vec<track::PacketRef>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let items = refs
            .into_iter()
            .map(|p| {
                self.make(
                    py,
                    &self.packet_ref,
                    vec![
                        any(py, p.frame)?,
                        wide(py, p.ts_ns)?,
                        any(py, p.ttl)?,
                        any(py, p.ip_id)?,
                        any(py, p.seq)?,
                    ],
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        any(py, PyTuple::new(py, items)?)
    }

    fn options<'py>(
        &self,
        py: Python<'py>,
        o: Option<track::TcpOptionsRec>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match o {
            None => any(py, py.None()),
            Some(o) => self.make(py, &self.tcp_options, options_fields(py, o)?),
        }
    }

    fn direction<'py>(
        &self,
        py: Python<'py>,
        d: track::DirectionRec,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.make(
            py,
            &self.direction,
            vec![
                any(py, d.packets)?,
                any(py, d.payload_bytes)?,
                any(py, d.retransmitted_bytes)?,
                any(py, PyTuple::new(py, d.fin_frames)?)?,
                opt_wide(py, d.last_ts_ns)?,
                opt_wide(py, d.fin_ts_ns)?,
            ],
        )
    }

    fn exchange<'py>(
        &self,
        py: Python<'py>,
        e: Option<track::ExchangeRec>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match e {
            None => any(py, py.None()),
            Some(e) => self.make(
                py,
                &self.exchange,
                vec![
                    any(py, e.requests)?,
                    any(py, e.responses)?,
                    wide(py, e.response_bytes)?,
                    opt_wide(py, e.response_expected)?,
                    any(py, e.problem)?,
                    any(py, e.answer_frame)?,
                    opt_wide(py, e.answer_ts_ns)?,
                ],
            ),
        }
    }

    /// A `model.Connection` from the core's record.
    pub(crate) fn connection<'py>(
        &mut self,
        py: Python<'py>,
        r: Record,
    ) -> PyResult<Bound<'py, PyAny>> {
        let resets = r
            .resets
            .into_iter()
            .map(|x| {
                self.make(
                    py,
                    &self.reset,
                    vec![
                        any(py, x.frame)?,
                        wide(py, x.ts_ns)?,
                        any(py, x.sender)?,
                        any(py, x.phase)?,
                        any(py, x.ttl)?,
                        any(py, x.ip_id)?,
                        any(py, x.seq)?,
                    ],
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        let request = match r.request {
            None => any(py, py.None())?,
            Some(m) => {
                let (kind, method, target, version, host, first_bytes) = m.fields;
                self.make(
                    py,
                    &self.request,
                    vec![
                        any(py, kind)?,
                        any(py, m.frame)?,
                        any(py, method)?,
                        any(py, target)?,
                        any(py, version)?,
                        any(py, host)?,
                        any(py, first_bytes)?,
                        wide(py, m.ts_ns)?,
                    ],
                )?
            }
        };
        let response = match r.response {
            None => any(py, py.None())?,
            Some(m) => {
                let (kind, status, reason, tls_version, alert, first_bytes) = m.fields;
                self.make(
                    py,
                    &self.response,
                    vec![
                        any(py, kind)?,
                        any(py, m.frame)?,
                        any(py, status)?,
                        any(py, reason)?,
                        any(py, tls_version)?,
                        any(py, alert)?,
                        any(py, first_bytes)?,
                        wide(py, m.ts_ns)?,
                    ],
                )?
            }
        };
        let alerts = r
            .tls_alerts
            .into_iter()
            .map(|a| {
                self.make(
                    py,
                    &self.tls_alert,
                    vec![
                        any(py, a.frame)?,
                        wide(py, a.ts_ns)?,
                        any(py, a.sender)?,
                        any(py, a.alert)?,
                    ],
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        let fields = vec![
            any(py, r.id)?,
            self.endpoint(py, r.client)?,
            self.endpoint(py, r.server)?,
            any(py, r.client_isn)?,
            any(py, r.server_isn)?,
            any(py, r.first_frame)?,
            any(py, r.last_frame)?,
            wide(py, r.first_ts_ns)?,
            wide(py, r.last_ts_ns)?,
            any(py, r.conn_state)?,
            any(py, r.history)?,
            self.refs(py, r.syns)?,
            self.refs(py, r.synacks)?,
            any(py, r.handshake_frame)?,
            any(py, PyTuple::new(py, resets)?)?,
            self.options(py, r.syn_options)?,
            self.options(py, r.synack_options)?,
            self.direction(py, r.client_sent)?,
            self.direction(py, r.server_sent)?,
            request,
            response,
            any(py, PyTuple::new(py, alerts)?)?,
            any(py, r.gaps)?,
            any(py, r.ended_by)?,
            self.exchange(py, r.exchange)?,
            self.exchange(py, r.exchange_at_rst)?,
            any(py, PyTuple::new(py, r.omitted)?)?,
        ];
        self.make(py, &self.connection, fields)
    }
}

fn options_fields<'py>(
    py: Python<'py>,
    o: track::TcpOptionsRec,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    Ok(vec![
        any(py, o.mss)?,
        any(py, o.wscale)?,
        any(py, o.sack_permitted)?,
        any(py, PyTuple::new(py, o.sack_blocks)?)?,
        any(py, o.tsval)?,
        any(py, o.tsecr)?,
        any(py, o.layout)?,
    ])
}

/// The tracker of one capture (core/src/track.rs), with the decoder it reads batches
/// through.
#[pyclass(module = "pcapdiff._core", name = "Tracker")]
struct PyTracker {
    inner: track::Tracker,
    decoder: PyDecoder,
    model: Model,
    json: bool,    // each record also as its `conns --json` text
    records: bool, // a `Connection` even for a record whose text is written
    run: TextRun,  // kept, with its buffer's capacity, from call to call
    keep: bool,    // records stay in the core, for compare's engine (`take_kept`)
    #[allow(clippy::vec_box)] // the tracker's own boxes, moved on to the engine as they are
    kept: Vec<Box<Record>>,
}

impl PyTracker {
    /// Events as Python values: (0, record, its text or None); without records, where
    /// the text is written, runs of them as (3, texts, how many, {conn_state: count});
    /// (1, id, from_client, row); (2, clock).
    fn events<'py>(
        &mut self,
        py: Python<'py>,
        events: Vec<Event>,
        rows: &dyn Fn(usize) -> PyResult<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        let model = &mut self.model;
        let run = &mut self.run;
        for event in events {
            match event {
                Event::Finished(record) if self.keep => self.kept.push(record),
                Event::Finished(record) => {
                    let text = if !self.json {
                        None
                    } else if self.records {
                        model.json(py, &record)?
                    } else if run.add(py, model, &record)? {
                        continue;
                    } else {
                        None // beyond what the core writes: the Connection, rendered in Python
                    };
                    run.flush(py, &out)?;
                    out.append((0, model.connection(py, *record)?, text))?
                }
                Event::Tapped {
                    id,
                    from_client,
                    index,
                } => {
                    run.flush(py, &out)?;
                    out.append((1, id, from_client, rows(index)?))?
                }
                Event::Released(clock) => {
                    run.flush(py, &out)?;
                    out.append((2, clock))?
                }
            }
        }
        run.flush(py, &out)?;
        Ok(out)
    }
}

/// Consecutive records given as their text alone, as one event: (3, the texts joined
/// by `conns --json`'s separator, how many, {conn_state: count}). One Python string
/// and one tuple per batch instead of per record.
#[derive(Default)]
struct TextRun {
    text: String,
    count: usize,
    states: Vec<(&'static str, usize)>,
}

impl TextRun {
    /// The record's text written on to the run's, without a String of its own; false
    /// where the core does not write it (the run is left as it was).
    fn add(&mut self, py: Python<'_>, model: &mut Model, record: &Record) -> PyResult<bool> {
        let before = self.text.len();
        if self.count > 0 {
            self.text.push_str(conns_json::RECORD_SEPARATOR);
        }
        if !model.json_into(py, record, &mut self.text)? {
            self.text.truncate(before);
            return Ok(false);
        }
        let state = record.conn_state;
        self.count += 1;
        match self.states.iter_mut().find(|(s, _)| *s == state) {
            Some((_, n)) => *n += 1,
            None => self.states.push((state, 1)),
        }
        Ok(true)
    }

    fn flush(&mut self, py: Python<'_>, out: &Bound<'_, PyList>) -> PyResult<()> {
        if self.count == 0 {
            return Ok(());
        }
        let states = PyDict::new(py);
        for (state, n) in self.states.drain(..) {
            states.set_item(state, n)?;
        }
        // bytes: the writer hands UTF-8 on as it is (no decode here, no encode there)
        out.append((
            3,
            PyBytes::new(py, self.text.as_bytes()),
            self.count,
            states,
        ))?;
        self.text.clear(); // its capacity kept: the next run grows it no more
        self.count = 0;
        Ok(())
    }
}

#[pymethods]
impl PyTracker {
    #[new]
    #[pyo3(signature = (idle_timeout_ns, close_delay_ns, tap, json = false, records = true, keep = false))]
    fn new(
        py: Python<'_>,
        idle_timeout_ns: i128,
        close_delay_ns: i128,
        tap: bool,
        json: bool,
        records: bool,
        keep: bool,
    ) -> PyResult<Self> {
        Ok(PyTracker {
            inner: track::Tracker::new(idle_timeout_ns, close_delay_ns, tap),
            decoder: PyDecoder::new(),
            model: Model::new(py)?,
            json,
            records,
            run: TextRun::default(),
            keep,
            kept: Vec::new(),
        })
    }

    /// The records that ended since the last call, kept in the core (``keep``): for
    /// compare's engine, which reads them where they are.
    fn take_kept(&mut self) -> crate::python_records::PyRecords {
        crate::python_records::PyRecords {
            records: std::mem::take(&mut self.kept),
        }
    }

    /// Decode and track one batch of frames (``read.FrameBatch`` columns): (what
    /// decoding found, as ``Decoder.decode_batch`` says it with no rows, the events).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (linktype, buf, frames, starts, caplens, ts_ns, pcapng))]
    fn feed_batch<'py>(
        &mut self,
        py: Python<'py>,
        linktype: i64,
        buf: &Bound<'py, PyAny>,
        frames: &Bound<'py, PyAny>,
        starts: &Bound<'py, PyAny>,
        caplens: &Bound<'py, PyAny>,
        ts_ns: &Bound<'py, PyAny>,
        pcapng: bool,
    ) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyList>)> {
        let columns = Columns::of(py, frames, starts, caplens, ts_ns)?;
        // An export of the buffer while the GIL is released: a bytearray with one
        // cannot be resized (BufferError), so the slice stays valid; and read.py hands
        // each chunk to this call only, nobody writes to it.
        let _export = PyBuffer::<u8>::get(buf)?;
        let data = read_only(buf)?;
        let mut tally = Tally::default();
        let mut tapped: Found = Vec::new();
        let mut events = Vec::new();
        let tracker = &mut self.inner;
        let decoder = &mut self.decoder.inner;
        // Decoding and tracking make no Python object: the other capture's thread
        // (compare) runs meanwhile.
        let unsupported = py.detach(|| {
            columns.decode_each(
                decoder,
                data,
                linktype,
                pcapng,
                &mut tally,
                |segment, bytes, start| {
                    let seen = match &segment.bytes {
                        decode::Bytes::Frame => Seg::of(segment, bytes),
                        decode::Bytes::Reassembled(whole) => Seg::of(segment, whole),
                    };
                    if tracker.segment(&seen, tapped.len(), &mut events) {
                        tapped.push((segment.clone(), start));
                    }
                },
            )
        })?;
        let found = self.decoder.outcome(py, buf, tapped, tally, unsupported)?;
        let rows = found.get_item(0)?;
        let row = |index: usize| rows.get_item(index);
        let out = self.events(py, events, &row)?;
        Ok((found, out))
    }

    /// Track a batch ``Decoder.decode_ahead`` decoded: the events, as ``feed_batch``
    /// gives them (a tapped segment's with its row).
    fn feed_decoded<'py>(
        &mut self,
        py: Python<'py>,
        decoded: &Bound<'py, PyDecodedBatch>,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut decoded = decoded.borrow_mut();
        let segments = std::mem::take(&mut decoded.segments);
        let buf = decoded.buf.bind(py).clone();
        let data = read_only(&buf)?; // exported by `decoded`: not resized meanwhile
        let mut tapped: Found = Vec::new();
        let mut events = Vec::new();
        let tracker = &mut self.inner;
        py.detach(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                for (segment, start, len) in &segments {
                    let seen = match &segment.bytes {
                        decode::Bytes::Frame => {
                            let end = start.saturating_add(*len);
                            let bytes = data.get(*start..end).unwrap_or_default();
                            Seg::of(segment, bytes)
                        }
                        decode::Bytes::Reassembled(whole) => Seg::of(segment, whole),
                    };
                    if tracker.segment(&seen, tapped.len(), &mut events) {
                        tapped.push((segment.clone(), *start));
                    }
                }
            }))
        })
        .map_err(|_| PyRuntimeError::new_err("tracking failed (a bug: please report it)"))?;
        let found = self
            .decoder
            .outcome(py, &buf, tapped, Tally::default(), None)?;
        let rows = found.get_item(0)?;
        let row = |index: usize| rows.get_item(index);
        self.events(py, events, &row)
    }

    /// Track Segment rows (the rows ``Decoder`` makes, or their merge over several
    /// files); the events, a tapped row being the row given.
    fn feed_rows<'py>(
        &mut self,
        py: Python<'py>,
        rows: &Bound<'py, PyList>,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut events = Vec::new();
        for (index, row) in rows.iter().enumerate() {
            let row = row.cast::<PyTuple>()?;
            if row.len() != 17 {
                return Err(PyRuntimeError::new_err("a Segment row has 17 fields"));
            }
            let field = |i: usize| row.get_item(i);
            let seg = decode::Segment {
                frame: field(0)?.extract()?,
                ts_ns: field(1)?.extract()?,
                src: Addr::from_slice(field(2)?.cast::<PyBytes>()?.as_bytes()),
                sport: field(3)?.extract()?,
                dst: Addr::from_slice(field(4)?.cast::<PyBytes>()?.as_bytes()),
                dport: field(5)?.extract()?,
                flags: field(6)?.extract()?,
                seq: field(7)?.extract()?,
                ack: field(8)?.extract()?,
                win: field(9)?.extract()?,
                payload_len: field(10)?.extract()?,
                ttl: field(11)?.extract()?,
                ip_id: field(12)?.extract()?,
                bytes: decode::Bytes::Frame,
                tcp_at: field(14)?.extract()?,
                payload_at: field(15)?.extract()?,
                captured_end: field(16)?.extract()?,
            };
            let data = field(13)?;
            let bytes = read_only(&data)?;
            let tracker = &mut self.inner;
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                tracker.segment(&Seg::of(&seg, bytes), index, &mut events);
            }))
            .map_err(|_| PyRuntimeError::new_err("tracking failed (a bug: please report it)"))?;
        }
        let row = |index: usize| rows.get_item(index);
        self.events(py, events, &row)
    }

    /// The end of the capture: every connection still live, then the clock's end.
    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let mut events = Vec::new();
        let tracker = &mut self.inner;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tracker.finish(&mut events)))
            .map_err(|_| PyRuntimeError::new_err("tracking failed (a bug: please report it)"))?;
        let none = |_: usize| any(py, py.None());
        self.events(py, events, &none)
    }

    /// Connections alive now.
    #[getter]
    fn live(&self) -> usize {
        self.inner.live_count()
    }
}

/// mimalloc.h's `mi_option_purge_delay` (the same in its v2 and v3; the crate names
/// it in neither): how long freed pages wait before going back to the system.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Pages freed and unused for 10 ms go back to the system. At once (0) each batch
/// faulted and zeroed its pages afresh (the kernel's clear_page and page faults; a
/// `conns` run 9% slower); after a second, `conns` of the real edge pair's captures
/// held 120-126 MB, past the 100 MB it must stay under; at 10 ms 78-81 MB, flat from
/// 1M to 5M packets. (Left unset, v3 held 108-125 MB.)
const PURGE_DELAY_MS: std::os::raw::c_long = 10;

/// mimalloc.h's `mi_option_allow_thp` (v3; the crate does not name it).
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// No transparent huge pages for the core's memory. mimalloc asks for them on its
/// arena (madvise MADV_HUGEPAGE), where a fault then clears 2 MB: on one request per
/// connection the tracker's thread spent a sixth of its samples in the kernel's
/// clear_page, for memory purged and taken again as connections come and go; without them (measured, 10
/// interleaved runs) a `conns --json` median 0.649 -> 0.461 s, system time 0.35 ->
/// 0.16 s, peak RSS 68 -> 46 MB. Set here, after mimalloc's start, the option stops
/// only its own madvise: the process's other memory is left as it was.
fn set_allocator_options() {
    // SAFETY: sets options' values; called once, while the module is imported
    // under the GIL, before any of its threads exist.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
        libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0);
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    set_allocator_options();
    m.add("MAX_HEAD_BYTES", payload::MAX_HEAD_BYTES)?;
    m.add_function(wrap_pyfunction!(parse_request, m)?)?;
    m.add_function(wrap_pyfunction!(parse_response, m)?)?;
    m.add_function(wrap_pyfunction!(tls_alert, m)?)?;
    m.add_function(wrap_pyfunction!(wire_text, m)?)?;
    // The framers' states and limits, for framing.py (one definition, here).
    for (name, value) in [
        ("HEAD", framing::HEAD),
        ("BODY", framing::BODY),
        ("CHUNK_SIZE", framing::CHUNK_SIZE),
        ("CHUNK_DATA", framing::CHUNK_DATA),
        ("TRAILER", framing::TRAILER),
        ("UNTIL_CLOSE", framing::UNTIL_CLOSE),
        ("DONE", framing::DONE),
    ] {
        m.add(name, value)?;
    }
    m.add("UNBOUNDED", framing::UNBOUNDED)?;
    m.add("MAX_HTTP_HEAD_BYTES", framing::MAX_HTTP_HEAD_BYTES)?;
    m.add("MAX_LINE_BYTES", framing::MAX_LINE_BYTES)?;
    m.add("MAX_METHODS", framing::MAX_METHODS)?;
    m.add("MAX_RECORDS_KEPT", framing::MAX_RECORDS_KEPT)?;
    m.add_class::<PyHttpFramer>()?;
    m.add_class::<PyTlsFramer>()?;
    m.add_function(wrap_pyfunction!(walk_pcap, m)?)?;
    m.add_class::<PyDecoder>()?;
    m.add_class::<PyDecodedBatch>()?;
    m.add_class::<PyTracker>()?;
    m.add_function(wrap_pyfunction!(parse_tcp_options, m)?)?;
    m.add_function(wrap_pyfunction!(seconds_json, m)?)?;
    m.add("IDLE_TIMEOUT_NS", track::IDLE_TIMEOUT_NS)?;
    m.add("CLOSE_DELAY_NS", track::CLOSE_DELAY_NS)?;
    m.add("IDLE_SWEEP_INTERVAL_NS", track::IDLE_SWEEP_INTERVAL_NS)?;
    m.add_function(wrap_pyfunction!(linktype_name, m)?)?;
    m.add("LINKTYPES", decode::LINKTYPES.to_vec())?;
    m.add_function(wrap_pyfunction!(walk_pcapng, m)?)?;
    m.add_function(wrap_pyfunction!(column_facts, m)?)?;
    m.add_function(wrap_pyfunction!(linktype_runs, m)?)?;
    m.add_function(wrap_pyfunction!(frame_numbers, m)?)?;
    crate::python_records::register(m)?;
    Ok(())
}
