//! The Python module `pcapdiff._core`: each function takes and returns plain
//! Python values; columns go back as little-endian int64 byte strings
//! (`numpy.frombuffer(..., dtype="<i8")` reads them without a copy).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyTuple};

use crate::framing::{self, Methods};
use crate::payload;
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

    fn feed(&mut self, data: &[u8], frame: i64, ts_ns: i64) -> i128 {
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
            .map(|&(frame, ts, length)| PyTuple::new(py, [frame, ts, length]))
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

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
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
    m.add_function(wrap_pyfunction!(walk_pcapng, m)?)?;
    Ok(())
}
