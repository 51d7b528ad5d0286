//! `model.Connection` objects back into the core's records, and the compare stages
//! that have moved to the core (`compare`), callable on them: what the differential
//! tests hold the Python engine's stages against, record for record.

use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;

use pyo3::conversion::FromPyObjectOwned;
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::compare::coverage::{self, Coverage, CoverageFacts, Delays, Recorded, Window};
use crate::compare::evidence::Evidence;
use crate::compare::judge::{self, Case, Catalogue, ReasonSpec, Verdict};
use crate::compare::matching::{self, ClockOffset, Confidence};
use crate::compare::stream::{OriginSpec, Pair, Settings, StreamingCompare};
use crate::compare::verdict_json::{write_runs_parallel, Taken, VerdictRun, VERDICTS_PER_THREAD};
use crate::compare::{evidence, numbers, text};
use crate::decode::{Addr, IcmpError};
use crate::payload::{RequestFields, ResponseFields};
use crate::track::{
    AlertRec, DirectionRec, ExchangeRec, Message, PacketRef, Record, ResetRec, TcpOptionsRec,
};

/// Every word a record holds as `&'static str` (track.rs, payload.rs): the text of a
/// Python record maps back onto one of them.
const WORDS: &[&str] = &[
    "S0",
    "S1",
    "SF",
    "REJ",
    "S2",
    "S3",
    "RSTO",
    "RSTR",
    "RSTOS0",
    "RSTRH",
    "SH",
    "SHR",
    "OTH",
    "fin",
    "rst",
    "idle_timeout",
    "end_of_capture",
    "port_reuse",
    "half_open_limit",
    "client",
    "server",
    "handshake",
    "established",
    "after_request",
    "after_response",
    "http",
    "tls",
    "other",
    "syns",
    "synacks",
    "resets",
    "tls_alerts",
    "client_fins",
    "server_fins",
];

fn word(what: &str, text: &str) -> PyResult<&'static str> {
    WORDS
        .iter()
        .find(|w| **w == text)
        .copied()
        .ok_or_else(|| PyValueError::new_err(format!("{what} {text:?} is not one a record holds")))
}

fn get<'py, T: FromPyObjectOwned<'py>>(
    obj: &Bound<'py, PyAny>,
    name: &Bound<'py, PyString>,
) -> PyResult<T> {
    obj.getattr(name)?.extract().map_err(Into::into)
}

fn endpoint(obj: &Bound<'_, PyAny>) -> PyResult<(Addr, u16)> {
    let py = obj.py();
    let text: String = get(obj, intern!(py, "addr"))?;
    Ok((address_of(&text)?, get(obj, intern!(py, "port"))?))
}

fn items<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyAny>>> {
    obj.try_iter()?.collect()
}

fn packet_refs(obj: &Bound<'_, PyAny>) -> PyResult<Vec<PacketRef>> {
    let py = obj.py();
    items(obj)?
        .iter()
        .map(|p| {
            Ok(PacketRef {
                frame: get(p, intern!(py, "frame"))?,
                ts_ns: get(p, intern!(py, "ts_ns"))?,
                ttl: get(p, intern!(py, "ttl"))?,
                ip_id: get(p, intern!(py, "ip_id"))?,
                seq: get(p, intern!(py, "seq"))?,
            })
        })
        .collect()
}

fn options(obj: &Bound<'_, PyAny>) -> PyResult<Option<TcpOptionsRec>> {
    if obj.is_none() {
        return Ok(None);
    }
    let py = obj.py();
    Ok(Some(TcpOptionsRec {
        mss: get(obj, intern!(py, "mss"))?,
        wscale: get(obj, intern!(py, "wscale"))?,
        sack_permitted: get(obj, intern!(py, "sack_permitted"))?,
        sack_blocks: get(obj, intern!(py, "sack_blocks"))?,
        tsval: get(obj, intern!(py, "tsval"))?,
        tsecr: get(obj, intern!(py, "tsecr"))?,
        layout: get(obj, intern!(py, "layout"))?,
    }))
}

fn direction(obj: &Bound<'_, PyAny>) -> PyResult<DirectionRec> {
    let py = obj.py();
    Ok(DirectionRec {
        packets: get(obj, intern!(py, "packets"))?,
        payload_bytes: get(obj, intern!(py, "payload_bytes"))?,
        retransmitted_bytes: get(obj, intern!(py, "retransmitted_bytes"))?,
        fin_frames: get(obj, intern!(py, "fin_frames"))?,
        last_ts_ns: get(obj, intern!(py, "last_ts_ns"))?,
        fin_ts_ns: get(obj, intern!(py, "fin_ts_ns"))?,
    })
}

/// A first message's time: the tracker always knows it.
fn message_ts(obj: &Bound<'_, PyAny>) -> PyResult<i128> {
    let ts: Option<i128> = get(obj, intern!(obj.py(), "ts_ns"))?;
    ts.ok_or_else(|| PyValueError::new_err("a first message without ts_ns"))
}

/// A first message (None for Python's None): its fields, where and when it was read.
fn message<F>(
    obj: &Bound<'_, PyAny>,
    fields: impl FnOnce(&Bound<'_, PyAny>) -> PyResult<F>,
) -> PyResult<Option<Message<F>>> {
    if obj.is_none() {
        return Ok(None);
    }
    let frame = get(obj, intern!(obj.py(), "frame"))?;
    Ok(Some(Message::from((frame, message_ts(obj)?, fields(obj)?))))
}

fn request(obj: &Bound<'_, PyAny>) -> PyResult<Option<Message<RequestFields>>> {
    message(obj, |obj| {
        let py = obj.py();
        let kind: String = get(obj, intern!(py, "kind"))?;
        Ok((
            word("a request kind", &kind)?,
            get(obj, intern!(py, "method"))?,
            get(obj, intern!(py, "target"))?,
            get(obj, intern!(py, "version"))?,
            get(obj, intern!(py, "host"))?,
            get(obj, intern!(py, "first_bytes"))?,
        ))
    })
}

fn response(obj: &Bound<'_, PyAny>) -> PyResult<Option<Message<ResponseFields>>> {
    message(obj, |obj| {
        let py = obj.py();
        let kind: String = get(obj, intern!(py, "kind"))?;
        Ok((
            word("a response kind", &kind)?,
            get(obj, intern!(py, "status"))?,
            get(obj, intern!(py, "reason"))?,
            get(obj, intern!(py, "tls_version"))?,
            get(obj, intern!(py, "alert"))?,
            get(obj, intern!(py, "first_bytes"))?,
        ))
    })
}

fn exchange(obj: &Bound<'_, PyAny>) -> PyResult<Option<ExchangeRec>> {
    if obj.is_none() {
        return Ok(None);
    }
    let py = obj.py();
    Ok(Some(ExchangeRec {
        requests: get(obj, intern!(py, "requests"))?,
        responses: get(obj, intern!(py, "responses"))?,
        response_bytes: get(obj, intern!(py, "response_bytes"))?,
        response_expected: get(obj, intern!(py, "response_expected"))?,
        problem: get(obj, intern!(py, "problem"))?,
        answer_frame: get(obj, intern!(py, "answer_frame"))?,
        answer_ts_ns: get(obj, intern!(py, "answer_ts_ns"))?,
    }))
}

/// A `model.Connection` as the core's record, field for field.
pub fn record(obj: &Bound<'_, PyAny>) -> PyResult<Record> {
    let py = obj.py();
    let text = |name| -> PyResult<String> { get(obj, name) };
    let resets = items(&obj.getattr(intern!(py, "resets"))?)?
        .iter()
        .map(|r| {
            Ok(ResetRec {
                frame: get(r, intern!(py, "frame"))?,
                ts_ns: get(r, intern!(py, "ts_ns"))?,
                sender: word("a RST's sender", &get::<String>(r, intern!(py, "sender"))?)?,
                phase: word("a RST's phase", &get::<String>(r, intern!(py, "phase"))?)?,
                ttl: get(r, intern!(py, "ttl"))?,
                ip_id: get(r, intern!(py, "ip_id"))?,
                seq: get(r, intern!(py, "seq"))?,
            })
        })
        .collect::<PyResult<Vec<_>>>()?;
    let tls_alerts = items(&obj.getattr(intern!(py, "tls_alerts"))?)?
        .iter()
        .map(|a| {
            Ok(AlertRec {
                frame: get(a, intern!(py, "frame"))?,
                ts_ns: get(a, intern!(py, "ts_ns"))?,
                sender: word(
                    "an alert's sender",
                    &get::<String>(a, intern!(py, "sender"))?,
                )?,
                alert: get(a, intern!(py, "alert"))?,
            })
        })
        .collect::<PyResult<Vec<_>>>()?;
    let omitted = items(&obj.getattr(intern!(py, "omitted"))?)?
        .iter()
        .map(|entry| {
            let (name, count): (String, u64) = entry.extract()?;
            Ok((word("a list's name", &name)?, count))
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(Record {
        id: get(obj, intern!(py, "id"))?,
        client: endpoint(&obj.getattr(intern!(py, "client"))?)?,
        server: endpoint(&obj.getattr(intern!(py, "server"))?)?,
        client_isn: get(obj, intern!(py, "client_isn"))?,
        server_isn: get(obj, intern!(py, "server_isn"))?,
        first_frame: get(obj, intern!(py, "first_frame"))?,
        last_frame: get(obj, intern!(py, "last_frame"))?,
        first_ts_ns: get(obj, intern!(py, "first_ts_ns"))?,
        last_ts_ns: get(obj, intern!(py, "last_ts_ns"))?,
        conn_state: word("a conn_state", &text(intern!(py, "conn_state"))?)?,
        history: text(intern!(py, "history"))?,
        syns: packet_refs(&obj.getattr(intern!(py, "syns"))?)?,
        synacks: packet_refs(&obj.getattr(intern!(py, "synacks"))?)?,
        handshake_frame: get(obj, intern!(py, "handshake_frame"))?,
        resets,
        syn_options: options(&obj.getattr(intern!(py, "syn_options"))?)?,
        synack_options: options(&obj.getattr(intern!(py, "synack_options"))?)?,
        client_sent: direction(&obj.getattr(intern!(py, "client_sent"))?)?,
        server_sent: direction(&obj.getattr(intern!(py, "server_sent"))?)?,
        request: request(&obj.getattr(intern!(py, "request"))?)?,
        response: response(&obj.getattr(intern!(py, "response"))?)?,
        tls_alerts,
        gaps: get(obj, intern!(py, "gaps"))?,
        ended_by: word("an ended_by", &text(intern!(py, "ended_by"))?)?,
        exchange: exchange(&obj.getattr(intern!(py, "exchange"))?)?,
        exchange_at_rst: exchange(&obj.getattr(intern!(py, "exchange_at_rst"))?)?,
        omitted,
    })
}

fn records(list: &Bound<'_, PyAny>) -> PyResult<Vec<Record>> {
    items(list)?.iter().map(record).collect()
}

/// `ClockOffset` as a tuple (seconds, spread_s, pairs_used, source).
type ClockTuple = (f64, f64, i64, String);

fn clock_from(clock: Option<ClockTuple>) -> PyResult<Option<ClockOffset>> {
    let Some((seconds, spread_s, pairs_used, source)) = clock else {
        return Ok(None);
    };
    let source = ["estimated", "estimated (one way only)", "given", "none"]
        .into_iter()
        .find(|s| *s == source)
        .ok_or_else(|| PyValueError::new_err(format!("a clock source {source:?}")))?;
    Ok(Some(ClockOffset {
        seconds,
        spread_s,
        pairs_used,
        source,
    }))
}

/// The core's `match.match` over `model.Connection` records: ([(edge index, origin
/// index or None, score, matched_by, confidence)], (seconds, spread_s, pairs_used,
/// source), [unpaired origin index]); the indices are into the lists given.
#[pyfunction]
#[pyo3(signature = (edge, origin, clock_offset_s = None, clock = None, isn_delta = None))]
fn match_connections<'py>(
    py: Python<'py>,
    edge: &Bound<'py, PyAny>,
    origin: &Bound<'py, PyAny>,
    clock_offset_s: Option<f64>,
    clock: Option<ClockTuple>,
    isn_delta: Option<u32>,
) -> PyResult<Bound<'py, PyTuple>> {
    let (edge, origin) = (records(edge)?, records(origin)?);
    let clock = clock_from(clock)?;
    let matched = std::panic::catch_unwind(|| {
        let e: Vec<&Record> = edge.iter().collect();
        let o: Vec<&Record> = origin.iter().collect();
        matching::match_records(&e, &o, clock_offset_s, clock, isn_delta)
    })
    .map_err(|_| {
        pyo3::exceptions::PyRuntimeError::new_err("matching failed (a bug: please report it)")
    })?;
    let pairs = PyList::empty(py);
    for p in &matched.pairs {
        pairs.append((
            p.edge,
            p.origin,
            p.score,
            p.reasons.text(),
            p.confidence.as_str(),
        ))?;
    }
    let c = matched.clock;
    (
        pairs,
        (c.seconds, c.spread_s, c.pairs_used, c.source),
        matched.unpaired,
    )
        .into_pyobject(py)
}

/// A `model.Connection` through the core's record and back: the conversion's test
/// (every field must survive it).
#[pyfunction]
fn round_trip<'py>(py: Python<'py>, connection: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let record = record(connection)?;
    crate::python::Model::new(py)?.connection(py, record)
}

fn recorded(obj: &Bound<'_, PyAny>) -> PyResult<Recorded> {
    let py = obj.py();
    Ok(Recorded {
        start_ns: get(obj, intern!(py, "start_ns"))?,
        end_ns: get(obj, intern!(py, "end_ns"))?,
        start_source: get(obj, intern!(py, "start_source"))?,
        end_source: get(obj, intern!(py, "end_source"))?,
        last_packet_ns: get(obj, intern!(py, "last_packet_ns"))?,
        holes: get(obj, intern!(py, "holes"))?,
    })
}

fn window_tuple<'py>(py: Python<'py>, w: &Window) -> PyResult<Bound<'py, PyTuple>> {
    (
        w.start_ns,
        w.end_ns,
        &w.start_source,
        &w.end_source,
        w.last_packet_ns,
        w.assumed_end,
        PyTuple::new(py, &w.holes)?,
    )
        .into_pyobject(py)
}

/// The core's `coverage.build_coverage` over `gather_facts` of these records, the
/// trusted pairs given as (edge index, origin index): `Coverage` as nested tuples.
#[pyfunction]
#[pyo3(signature = (edge, origin, edge_conns, origin_conns, trusted, offset_ns, offset_spread_ns))]
#[allow(clippy::too_many_arguments)]
fn coverage_of<'py>(
    py: Python<'py>,
    edge: &Bound<'py, PyAny>,
    origin: &Bound<'py, PyAny>,
    edge_conns: &Bound<'py, PyAny>,
    origin_conns: &Bound<'py, PyAny>,
    trusted: Vec<(usize, usize)>,
    offset_ns: i128,
    offset_spread_ns: i128,
) -> PyResult<Bound<'py, PyTuple>> {
    let edge = recorded(edge)?;
    let origin = if origin.is_none() {
        None
    } else {
        Some(recorded(origin)?)
    };
    let (edge_conns, origin_conns) = (records(edge_conns)?, records(origin_conns)?);
    let mut facts = CoverageFacts::default();
    for c in &edge_conns {
        facts.add_edge(c);
    }
    for c in &origin_conns {
        facts.add_origin(c);
    }
    for (e, o) in trusted {
        match (edge_conns.get(e), origin_conns.get(o)) {
            (Some(e), Some(o)) => facts.add_trusted(e, o),
            _ => {
                return Err(PyValueError::new_err(
                    "a trusted pair's index is out of range",
                ))
            }
        }
    }
    let c = coverage::build_coverage(&edge, origin.as_ref(), &facts, offset_ns, offset_spread_ns);
    coverage_tuple(py, &c)
}

fn coverage_tuple<'py>(py: Python<'py>, c: &Coverage) -> PyResult<Bound<'py, PyTuple>> {
    let origin_window = match &c.origin {
        Some(w) => window_tuple(py, w)?.into_any(),
        None => py.None().into_bound(py),
    };
    let d = c.delays;
    (
        window_tuple(py, &c.edge)?,
        origin_window,
        (d.forward_ns, d.reverse_ns, d.measured_pairs),
        c.round_trip_ns,
        c.offset_ns,
    )
        .into_pyobject(py)
}

/// `coverage.duration` as the core writes it.
#[pyfunction]
fn duration(ns: i128) -> String {
    text::duration(ns)
}

/// `model.format_address` as the core writes it (4 or 16 bytes).
#[pyfunction]
fn address_text(packed: &[u8]) -> String {
    text::address(&Addr::from_slice(packed))
}

fn evidence_tuple<'py>(py: Python<'py>, ev: &Evidence) -> PyResult<Bound<'py, PyTuple>> {
    (ev.capture.as_str(), ev.frame, ev.ts_ns, &ev.what, ev.due).into_pyobject(py)
}

fn address_of(text: &str) -> PyResult<Addr> {
    let addr = IpAddr::from_str(text)
        .map_err(|_| PyValueError::new_err(format!("{text:?} is not an IP address")))?;
    Ok(match addr {
        IpAddr::V4(v4) => Addr::from_slice(&v4.octets()),
        IpAddr::V6(v6) => Addr::from_slice(&v6.octets()),
    })
}

/// A `model.IcmpError` as the decoder's record.
fn icmp_error(obj: &Bound<'_, PyAny>) -> PyResult<IcmpError> {
    let py = obj.py();
    let kind: String = get(obj, intern!(py, "kind"))?;
    Ok(IcmpError {
        frame: get(obj, intern!(py, "frame"))?,
        ts_ns: get(obj, intern!(py, "ts_ns"))?,
        sender: address_of(&get::<String>(obj, intern!(py, "sender"))?)?,
        kind: crate::decode::icmp_kind_named(&kind)
            .ok_or_else(|| PyValueError::new_err(format!("an ICMP kind {kind:?}")))?,
        mtu: get(obj, intern!(py, "mtu"))?,
        src: address_of(&get::<String>(obj, intern!(py, "quoted_src"))?)?,
        sport: get(obj, intern!(py, "quoted_sport"))?,
        dst: address_of(&get::<String>(obj, intern!(py, "quoted_dst"))?)?,
        dport: get(obj, intern!(py, "quoted_dport"))?,
        seq: get(obj, intern!(py, "quoted_seq"))?,
    })
}

/// judge.py's evidence and hints of one record, as the core writes them: {"syn",
/// "request", "response", "resets", "alerts", "icmp", "describe", "progress",
/// "progress_at_rst", "hints"}; `files` names the frames of a capture of several.
#[pyfunction]
fn evidence_of<'py>(
    py: Python<'py>,
    connection: &Bound<'py, PyAny>,
    files: Vec<String>,
    icmp_errors: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let c = record(connection)?;
    let errors = items(icmp_errors)?
        .iter()
        .map(icmp_error)
        .collect::<PyResult<Vec<_>>>()?;
    let cite = evidence::Cite { files };
    let out = PyDict::new(py);
    let side = evidence::Side::Origin;
    if !c.syns.is_empty() {
        out.set_item(
            "syn",
            evidence_tuple(py, &evidence::syn(&c, side, "edge sent SYN"))?,
        )?;
    }
    out.set_item(
        "request",
        evidence_tuple(py, &evidence::request(&c, side, "sent"))?,
    )?;
    out.set_item(
        "response",
        evidence_tuple(py, &evidence::response(&c, side, "got {response}, in full"))?,
    )?;
    let resets = c
        .resets
        .iter()
        .map(|r| evidence_tuple(py, &evidence::rst(r, side, "RST")))
        .collect::<PyResult<Vec<_>>>()?;
    out.set_item("resets", resets)?;
    let alerts = c
        .tls_alerts
        .iter()
        .map(|a| evidence_tuple(py, &evidence::alert(a, side, "origin")))
        .collect::<PyResult<Vec<_>>>()?;
    out.set_item("alerts", alerts)?;
    let icmp = errors
        .iter()
        .enumerate()
        .map(|(i, e)| evidence_tuple(py, &evidence::icmp(e, side, i + 1)))
        .collect::<PyResult<Vec<_>>>()?;
    out.set_item("icmp", icmp)?;
    out.set_item("describe", evidence::describe(&c))?;
    out.set_item("progress", evidence::progress(c.exchange.as_ref()))?;
    out.set_item(
        "progress_at_rst",
        evidence::progress(c.exchange_at_rst.as_ref()),
    )?;
    out.set_item("hints", evidence::injection_hints(&c, &cite))?;
    Ok(out)
}

fn window(obj: &Bound<'_, PyAny>) -> PyResult<Window> {
    let py = obj.py();
    Ok(Window {
        start_ns: get(obj, intern!(py, "start_ns"))?,
        end_ns: get(obj, intern!(py, "end_ns"))?,
        start_source: get(obj, intern!(py, "start_source"))?,
        end_source: get(obj, intern!(py, "end_source"))?,
        last_packet_ns: get(obj, intern!(py, "last_packet_ns"))?,
        assumed_end: get(obj, intern!(py, "assumed_end"))?,
        holes: get(obj, intern!(py, "holes"))?,
    })
}

/// A `coverage.Coverage` as the core's.
fn coverage_from(obj: &Bound<'_, PyAny>) -> PyResult<Coverage> {
    let py = obj.py();
    let origin = obj.getattr(intern!(py, "origin"))?;
    let delays = obj.getattr(intern!(py, "delays"))?;
    Ok(Coverage {
        edge: window(&obj.getattr(intern!(py, "edge"))?)?,
        origin: if origin.is_none() {
            None
        } else {
            Some(window(&origin)?)
        },
        delays: Delays {
            forward_ns: get(&delays, intern!(py, "forward_ns"))?,
            reverse_ns: get(&delays, intern!(py, "reverse_ns"))?,
            measured_pairs: get(&delays, intern!(py, "measured_pairs"))?,
        },
        round_trip_ns: get(obj, intern!(py, "round_trip_ns"))?,
        offset_ns: get(obj, intern!(py, "offset_ns"))?,
    })
}

fn confidence(text: &str) -> PyResult<Confidence> {
    Ok(match text {
        "" => Confidence::Unmatched,
        "certain" => Confidence::Certain,
        "probable" => Confidence::Probable,
        "weak" => Confidence::Weak,
        _ => return Err(PyValueError::new_err(format!("a confidence {text:?}"))),
    })
}

/// The core's judge with explain.py's catalogue: ``Judge(REASONS).judge(...)``.
#[pyclass(module = "pcapdiff._core", name = "Judge")]
struct PyJudge {
    catalogue: Catalogue,
}

#[pymethods]
impl PyJudge {
    #[new]
    fn new(reasons: &Bound<'_, PyDict>) -> PyResult<Self> {
        let catalogue = catalogue_of(reasons)?;
        Ok(PyJudge { catalogue })
    }

    /// judge.py's ``judge(Case(...))`` in the core: (reason, outcome, culprit, evidence
    /// [(capture, frame, ts_ns, what, due)], explanation, hints, assumes, the checks
    /// it rests on [(covered, due_until_ns)]).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (edge, origin, matched_by, confidence_text, coverage, clock_known, edge_icmp, origin_icmp, files))]
    fn judge<'py>(
        &self,
        py: Python<'py>,
        edge: &Bound<'py, PyAny>,
        origin: &Bound<'py, PyAny>,
        matched_by: String,
        confidence_text: &str,
        coverage: &Bound<'py, PyAny>,
        clock_known: bool,
        edge_icmp: &Bound<'py, PyAny>,
        origin_icmp: &Bound<'py, PyAny>,
        files: Vec<String>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let edge = record(edge)?;
        let origin = if origin.is_none() {
            None
        } else {
            Some(record(origin)?)
        };
        let coverage = coverage_from(coverage)?;
        let errors = |list: &Bound<'py, PyAny>| -> PyResult<Vec<IcmpError>> {
            items(list)?.iter().map(icmp_error).collect()
        };
        let (edge_icmp, origin_icmp) = (errors(edge_icmp)?, errors(origin_icmp)?);
        let cite = evidence::Cite { files };
        let mut case = Case {
            edge: &edge,
            origin: origin.as_ref(),
            matched_by,
            confidence: confidence(confidence_text)?,
            coverage: &coverage,
            clock_known,
            checks: Vec::new(),
            edge_icmp: edge_icmp.iter().collect(),
            origin_icmp: origin_icmp.iter().collect(),
            edge_cite: &cite,
            catalogue: &self.catalogue,
        };
        let v = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| judge::judge(&mut case)))
            .map_err(|_| {
                pyo3::exceptions::PyRuntimeError::new_err(
                    "judging failed (a bug: please report it)",
                )
            })?;
        let checks: Vec<(bool, i128)> = case
            .checks
            .iter()
            .map(|c| (c.covered, c.due_until_ns))
            .collect();
        let verdict = verdict_tuple(py, &v)?;
        let mut fields: Vec<Bound<'py, PyAny>> = verdict.iter().collect();
        fields.push(checks.into_pyobject(py)?.into_any());
        PyTuple::new(py, fields)
    }
}

fn catalogue_of(reasons: &Bound<'_, PyDict>) -> PyResult<Catalogue> {
    let py = reasons.py();
    let mut catalogue = Catalogue::default();
    for (name, spec) in reasons.iter() {
        let value = |field: &Bound<'_, PyString>| -> PyResult<String> {
            let v = spec.getattr(field)?;
            match v.getattr(intern!(py, "value")) {
                Ok(inner) => inner.extract(), // an Outcome or Culprit
                Err(_) => v.extract(),
            }
        };
        catalogue.reasons.insert(
            name.extract()?,
            ReasonSpec {
                outcome: value(intern!(py, "outcome"))?,
                culprit: value(intern!(py, "culprit"))?,
                text: value(intern!(py, "text"))?,
            },
        );
    }
    Ok(catalogue)
}

fn verdict_tuple<'py>(py: Python<'py>, v: &Verdict) -> PyResult<Bound<'py, PyTuple>> {
    let evidence = v
        .evidence
        .iter()
        .map(|e| evidence_tuple(py, e))
        .collect::<PyResult<Vec<_>>>()?;
    (
        v.reason,
        &v.outcome,
        &v.culprit,
        evidence,
        &v.explanation,
        PyTuple::new(py, &v.hints)?,
        PyTuple::new(py, &v.assumes)?,
    )
        .into_pyobject(py)
}

fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> PyResult<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|_| {
        pyo3::exceptions::PyRuntimeError::new_err(format!(
            "{what} failed (a bug: please report it)"
        ))
    })
}

/// stream.py's StreamingCompare in the core, fed `model.Connection` records: the
/// differential test's engine. Verdicts are taken with `take()` as (edge, origin,
/// score, matched_by, confidence, (reason, outcome, culprit, evidence, explanation,
/// hints, assumes)).
#[pyclass(module = "pcapdiff._core", name = "StreamingCompare", subclass)]
struct PyStreaming {
    engine: StreamingCompare,
    model: crate::python::Model,
    classes: VerdictClasses,
    taken: usize, // verdicts handed to Python so far
    origin_cite: evidence::Cite,
    all_packets: bool, // every verdict's key packets in its JSON, ok ones too
}

impl PyStreaming {
    /// `str(model.Endpoint)`: "address:port", "[v6]:port".
    fn endpoint_text(&mut self, py: Python<'_>, (addr, port): (Addr, u16)) -> PyResult<String> {
        let (_, text) = self.model.address(py, addr)?;
        Ok(if text.contains(':') {
            format!("[{text}]:{port}")
        } else {
            format!("{text}:{port}")
        })
    }

    /// A verdict as `model.Verdict` (its pair's records as `model.Connection`s).
    fn verdict_object<'py>(
        &mut self,
        py: Python<'py>,
        pair: Pair,
        v: &Verdict,
    ) -> PyResult<Bound<'py, PyAny>> {
        let origin = match pair.origin {
            Some(o) => self.model.connection(py, *o)?,
            None => py.None().into_bound(py),
        };
        let edge = self.model.connection(py, *pair.edge)?;
        let c = &self.classes;
        let pair_object = self.model.make(
            py,
            &c.pair,
            vec![
                edge,
                origin,
                pair.score.into_pyobject(py)?.into_any(),
                pair.matched_by.into_pyobject(py)?.into_any(),
                pair.confidence.as_str().into_pyobject(py)?.into_any(),
            ],
        )?;
        let evidence = v
            .evidence
            .iter()
            .map(|e| {
                let side = match e.capture {
                    evidence::Side::Edge => &c.sides[0],
                    evidence::Side::Origin => &c.sides[1],
                };
                self.model.make(
                    py,
                    &c.evidence,
                    vec![
                        side.bind(py).clone(),
                        e.frame.into_pyobject(py)?.into_any(),
                        e.ts_ns.into_pyobject(py)?.into_any(),
                        (&e.what).into_pyobject(py)?.into_any(),
                        e.due.into_pyobject(py)?.into_any(),
                    ],
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        self.model.make(
            py,
            &c.verdict,
            vec![
                pair_object,
                c.member(py, "outcome", &v.outcome)?,
                c.member(py, "culprit", &v.culprit)?,
                PyTuple::new(py, evidence)?.into_any(),
                v.explanation.clone().into_pyobject(py)?.into_any(),
                PyTuple::new(py, &v.hints)?.into_any(),
                v.reason.into_pyobject(py)?.into_any(),
                PyTuple::new(py, &v.assumes)?.into_any(),
            ],
        )
    }
}

/// A tracker's records kept in the core (``Tracker(keep=True).take_kept()``), handed
/// to compare's engine without becoming Python objects.
#[pyclass(module = "pcapdiff._core", name = "Records")]
pub(crate) struct PyRecords {
    #[allow(clippy::vec_box)] // the tracker's own boxes, moved on to the engine as they are
    pub(crate) records: Vec<Box<Record>>,
}

#[pymethods]
impl PyRecords {
    fn __len__(&self) -> usize {
        self.records.len()
    }

    /// Another batch's records appended to these (the other emptied).
    fn absorb(&mut self, other: &mut PyRecords) {
        self.records.append(&mut other.records);
    }
}

/// The classes of `model` a verdict is made of, and the enums' members by value.
struct VerdictClasses {
    verdict: Py<PyAny>,
    pair: Py<PyAny>,
    evidence: Py<PyAny>,
    sides: [Py<PyAny>; 2],                    // edge, origin
    members: HashMap<String, Py<PyAny>>,      // "outcome:ok", "culprit:path", ...
    cdn_status: HashMap<String, Option<i64>>, // model.CDN_STATUS, by outcome
}

/// A run of verdicts' text as `take_json` hands it on: (text, how many, {outcome:
/// count}, how many assume something).
fn append_run(run: VerdictRun, py: Python<'_>, out: &Bound<'_, PyList>) -> PyResult<()> {
    let outcomes = PyDict::new(py);
    for (outcome, n) in run.outcomes {
        outcomes.set_item(outcome, n)?;
    }
    out.append((
        pyo3::types::PyBytes::new(py, run.text.as_bytes()),
        run.count,
        outcomes,
        run.assumed,
    ))
}

impl VerdictClasses {
    fn new(py: Python<'_>) -> PyResult<Self> {
        let model = py.import("pcapdiff.model")?;
        let class = |name: &str| -> PyResult<Py<PyAny>> { Ok(model.getattr(name)?.unbind()) };
        let side = model.getattr("Side")?;
        let mut members = HashMap::new();
        for (prefix, name) in [("outcome", "Outcome"), ("culprit", "Culprit")] {
            for member in model.getattr(name)?.try_iter()? {
                let member = member?;
                let value: String = member.getattr("value")?.extract()?;
                members.insert(format!("{prefix}:{value}"), member.unbind());
            }
        }
        let mut cdn_status = HashMap::new();
        for (outcome, status) in model.getattr("CDN_STATUS")?.cast::<PyDict>()?.iter() {
            cdn_status.insert(outcome.getattr("value")?.extract()?, status.extract()?);
        }
        Ok(VerdictClasses {
            cdn_status,
            verdict: class("Verdict")?,
            pair: class("Pair")?,
            evidence: class("Evidence")?,
            sides: [
                side.getattr("EDGE")?.unbind(),
                side.getattr("ORIGIN")?.unbind(),
            ],
            members,
        })
    }

    fn member<'py>(&self, py: Python<'py>, kind: &str, value: &str) -> PyResult<Bound<'py, PyAny>> {
        self.members
            .get(&format!("{kind}:{value}"))
            .map(|m| m.bind(py).clone())
            .ok_or_else(|| PyValueError::new_err(format!("no {kind} {value:?}")))
    }
}

#[pymethods]
impl PyStreaming {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (reasons, specs, ports, pull_ports, clock_offset_s, release, roles_known, edge_files, idle_timeout_ns, several_files))]
    fn new(
        py: Python<'_>,
        reasons: &Bound<'_, PyDict>,
        specs: Vec<(Vec<u8>, u8, Option<u16>)>,
        ports: Vec<u16>,
        pull_ports: Vec<u16>,
        clock_offset_s: Option<f64>,
        release: bool,
        roles_known: bool,
        edge_files: Vec<String>,
        idle_timeout_ns: i128,
        several_files: bool,
    ) -> PyResult<Self> {
        let settings = Settings {
            specs: specs
                .into_iter()
                .map(|(network, prefix, port)| OriginSpec {
                    network: Addr::from_slice(&network),
                    prefix,
                    port,
                })
                .collect(),
            ports,
            pull_ports,
            clock_offset_s,
            release,
            roles_known,
            edge_cite: evidence::Cite { files: edge_files },
            idle_timeout_ns,
            several_files,
        };
        Ok(PyStreaming {
            engine: StreamingCompare::new(settings, catalogue_of(reasons)?),
            model: crate::python::Model::new(py)?,
            classes: VerdictClasses::new(py)?,
            taken: 0,
            origin_cite: evidence::Cite::default(),
            all_packets: false,
        })
    }

    /// A batch of a tracker's kept records, in the order they ended: compared with the
    /// GIL released (the other capture's reading thread runs meanwhile).
    fn add_records(
        &mut self,
        py: Python<'_>,
        edge_side: bool,
        records: &mut PyRecords,
    ) -> PyResult<()> {
        let batch = std::mem::take(&mut records.records);
        let engine = &mut self.engine;
        py.detach(|| {
            guarded("comparing", || {
                for r in batch {
                    if edge_side {
                        engine.add_edge(r);
                    } else {
                        engine.add_origin(r);
                    }
                }
            })
        })
    }

    /// How the edge capture names its frames, once known (several files: FILE#N).
    fn set_edge_files(&mut self, files: Vec<String>) {
        self.engine.set_edge_cite(evidence::Cite { files });
    }

    /// Server ports known to carry origin pulls so far.
    #[getter]
    fn pull_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self.engine.pull_ports().iter().copied().collect();
        ports.sort_unstable();
        ports
    }

    /// The verdicts final since the last call, as `model.Verdict`s.
    fn take_verdicts<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for (pair, v) in std::mem::take(&mut self.engine.out) {
            self.taken += 1;
            out.append(self.verdict_object(py, pair, &v)?)?;
        }
        Ok(out)
    }

    /// The verdicts final since the last call as what `compare`'s table shows of each
    /// (render/compare_table.py's `Shows`), with its place in the table's order: (edge
    /// start, edge first frame, the row). No `model.Verdict` is made: building them
    /// was half of the table's time on a million-packet pair.
    fn take_rows<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for (pair, v) in std::mem::take(&mut self.engine.out) {
            self.taken += 1;
            let edge = &pair.edge;
            let client = self.endpoint_text(py, edge.client)?;
            let server = self.endpoint_text(py, edge.server)?;
            let evidence = v
                .evidence
                .iter()
                .map(|e| {
                    let side = match e.capture {
                        evidence::Side::Edge => "edge",
                        evidence::Side::Origin => "origin",
                    };
                    (side, e.frame, e.ts_ns, e.what.as_str())
                })
                .collect::<Vec<_>>();
            let cdn = self.classes.cdn_status.get(&v.outcome).copied().flatten();
            let row = (
                edge.first_ts_ns,
                client,
                server,
                v.outcome.as_str(),
                cdn,
                v.culprit.as_str(),
                PyTuple::new(py, evidence)?,
                v.explanation.as_str(),
                PyTuple::new(py, &v.hints)?,
                pair.confidence.as_str(),
                pair.matched_by.as_str(),
            );
            out.append((edge.first_ts_ns, edge.first_frame, row))?;
        }
        Ok(out)
    }

    /// The verdicts final since the last call as `compare --json` writes them: runs of
    /// their text (text, how many, {outcome: count}, how many assume something), or a
    /// `model.Verdict` for one the core does not write exactly. Numbered from 1 in the
    /// order handed out.
    fn take_json<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let verdicts = std::mem::take(&mut self.engine.out);
        let first = self.taken + 1;
        self.taken += verdicts.len();
        let (cdn_status, cites) = (
            &self.classes.cdn_status,
            [self.engine.edge_cite(), &self.origin_cite],
        );
        let all_packets = self.all_packets;
        let taken = py.detach(|| {
            guarded("writing verdicts", || {
                write_runs_parallel(
                    verdicts,
                    first,
                    cdn_status,
                    cites,
                    all_packets,
                    VERDICTS_PER_THREAD,
                )
            })
        })?;
        let out = PyList::empty(py);
        for item in taken {
            match item {
                Taken::Run(run) => append_run(run, py, &out)?,
                Taken::Verdict(pv) => {
                    let (pair, v) = *pv;
                    out.append(self.verdict_object(py, pair, &v)?)?;
                }
            }
        }
        Ok(out)
    }

    /// Whether `take_json` lists the key packets of ok verdicts too (the report's
    /// `--html-all`); those of the others it always lists.
    fn set_all_packets(&mut self, all: bool) {
        self.all_packets = all;
    }

    /// How the origin capture names its frames (several files: FILE#N).
    fn set_origin_files(&mut self, files: Vec<String>) {
        self.origin_cite = evidence::Cite { files };
    }

    fn start(&mut self, edge_side: bool, recorded_window: &Bound<'_, PyAny>) -> PyResult<()> {
        let r = recorded(recorded_window)?;
        self.engine.start(edge_side, r);
        Ok(())
    }

    fn add_edge(&mut self, connection: &Bound<'_, PyAny>) -> PyResult<()> {
        let c = Box::new(record(connection)?);
        guarded("comparing", || self.engine.add_edge(c))
    }

    fn add_origin(&mut self, connection: &Bound<'_, PyAny>) -> PyResult<()> {
        let c = Box::new(record(connection)?);
        guarded("comparing", || self.engine.add_origin(c))
    }

    #[pyo3(signature = (edge_side, clock_ns, icmp_errors))]
    fn clock(
        &mut self,
        py: Python<'_>,
        edge_side: bool,
        clock_ns: Option<i128>,
        icmp_errors: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let errors = items(icmp_errors)?
            .iter()
            .map(icmp_error)
            .collect::<PyResult<Vec<_>>>()?;
        let engine = &mut self.engine;
        // judging what the captures have now shown: no Python object, the GIL released
        py.detach(|| guarded("comparing", || engine.clock(edge_side, clock_ns, &errors)))
    }

    fn lead_ns(&self) -> i128 {
        self.engine.lead_ns()
    }

    /// Whether the origin's next batch goes in before the edge's next (stream.rs).
    fn origin_behind(&self) -> bool {
        self.engine.origin_behind()
    }

    fn swapped_by_ttl(&self) -> bool {
        self.engine.swapped_by_ttl()
    }

    #[getter]
    fn released(&self) -> bool {
        self.engine.released()
    }

    /// Verdicts handed out so far.
    #[getter]
    fn judged(&self) -> usize {
        self.engine.judged()
    }

    /// Candidate pairs scored so far (matching, and scoring certain pairs again).
    #[getter]
    fn scored(&self) -> usize {
        self.engine.scored()
    }

    /// Records waiting for a twin now, both captures'.
    #[getter]
    fn waiting(&self) -> usize {
        self.engine.waiting()
    }

    /// The verdicts final since the last call.
    fn take<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for (pair, verdict) in std::mem::take(&mut self.engine.out) {
            let origin = match pair.origin {
                Some(o) => self.model.connection(py, *o)?,
                None => py.None().into_bound(py),
            };
            out.append((
                self.model.connection(py, *pair.edge)?,
                origin,
                pair.score,
                pair.matched_by,
                pair.confidence.as_str(),
                verdict_tuple(py, &verdict)?,
            ))?;
        }
        Ok(out)
    }

    /// Both captures ended: (clock, coverage, unpaired origin records, others, judged,
    /// assumed, swapped_by_ttl, streamed); the verdicts of the end with `take()`.
    #[pyo3(signature = (edge, origin, swap))]
    fn finish<'py>(
        &mut self,
        py: Python<'py>,
        edge: &Bound<'py, PyAny>,
        origin: &Bound<'py, PyAny>,
        swap: bool,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let edge = recorded(edge)?;
        let origin = if origin.is_none() {
            None
        } else {
            Some(recorded(origin)?)
        };
        let end = guarded("comparing", || {
            self.engine.finish(&edge, origin.as_ref(), swap)
        })?;
        let c = end.clock;
        let unpaired = end
            .unpaired_origin
            .into_iter()
            .map(|r| self.model.connection(py, *r))
            .collect::<PyResult<Vec<_>>>()?;
        (
            (c.seconds, c.spread_s, c.pairs_used, c.source),
            coverage_tuple(py, &end.coverage)?,
            unpaired,
            end.others,
            end.judged,
            end.assumed,
            end.swapped_by_ttl,
            end.streamed,
        )
            .into_pyobject(py)
    }
}

/// Python's `repr` of a str as the core writes it.
#[pyfunction]
fn py_repr(text: &str) -> String {
    text::py_repr(text)
}

/// Python's `a / b` of two ints, as the core computes it (held to Python's own).
#[pyfunction]
fn true_div(a: i128, b: i128) -> f64 {
    numbers::true_div(a, b)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(match_connections, m)?)?;
    m.add_function(wrap_pyfunction!(true_div, m)?)?;
    m.add_function(wrap_pyfunction!(round_trip, m)?)?;
    m.add_function(wrap_pyfunction!(coverage_of, m)?)?;
    m.add_function(wrap_pyfunction!(duration, m)?)?;
    m.add_function(wrap_pyfunction!(address_text, m)?)?;
    m.add_function(wrap_pyfunction!(evidence_of, m)?)?;
    m.add_function(wrap_pyfunction!(py_repr, m)?)?;
    m.add_class::<PyJudge>()?;
    m.add_class::<PyStreaming>()?;
    m.add_class::<PyRecords>()?;
    Ok(())
}
