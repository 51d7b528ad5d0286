"""Every sentence a verdict can say, keyed by reason: one place to review the wording.

Each reason names the outcome and culprit it stands for and a one-line explanation
with the next step. Templates take named facts (``{port}``, ``{alert}``, ``{gap}``)
that the judge (core/src/compare/judge.rs, handed this catalogue) supplies. Reasons
starting ``edge_only_`` are the wording when only the edge capture is given: they
claim only what that capture shows and say what an origin capture would settle.
"""

from __future__ import annotations

from typing import NamedTuple

from .model import Culprit, Outcome


class Reason(NamedTuple):
    outcome: Outcome
    culprit: Culprit
    text: str


_O, _C = Outcome, Culprit
CAPTURE_BOTH = "Capture on both hosts at the same time, until the failure has been reproduced."

REASONS: dict[str, Reason] = {
    # --- a capture could not have seen the deciding packet ---------------------------
    "origin_not_running": Reason(
        _O.INCONCLUSIVE,
        _C.UNKNOWN,
        "The origin capture was not running when {what} was due there ({when}): nothing "
        "can be said of what the origin received. " + CAPTURE_BOTH,
    ),
    "origin_capture_ended": Reason(
        _O.INCONCLUSIVE,
        _C.UNKNOWN,
        "The origin capture ended before {what} was due there ({when}): nothing can be "
        "said of what the origin did. " + CAPTURE_BOTH,
    ),
    "origin_file_missing": Reason(
        _O.INCONCLUSIVE,
        _C.UNKNOWN,
        "The origin capture has a gap where {what} was due ({when}): a file of its rotated "
        "ring is missing. Give every file of the ring (ring.pcap names them all).",
    ),
    "edge_file_missing": Reason(
        _O.INCONCLUSIVE,
        _C.UNKNOWN,
        "The edge capture has a gap where {what} was due ({when}): a file of its rotated "
        "ring is missing. Give every file of the ring (ring.pcap names them all).",
    ),
    "edge_capture_ended": Reason(
        _O.INCONCLUSIVE,
        _C.UNKNOWN,
        "The edge capture ended before {what} could arrive ({when}). " + CAPTURE_BOTH,
    ),
    "edge_still_waiting": Reason(
        _O.INCONCLUSIVE,
        _C.UNKNOWN,
        "No answer yet when the edge capture ended, {gap} after the request, and the edge "
        "had not given up (no FIN or RST from it): the capture stopped too early to say "
        "whether the origin would answer. " + CAPTURE_BOTH,
    ),
    "edge_capture_ended_mid_response": Reason(
        _O.INCONCLUSIVE,
        _C.UNKNOWN,
        "The answer was still arriving when the edge capture ended ({progress}), and the "
        "edge had not given up: whether it completed cannot be said. " + CAPTURE_BOTH,
    ),
    "response_in_flight": Reason(
        _O.INCONCLUSIVE,
        _C.UNKNOWN,
        "The origin sent its response {gap} before the edge gave up, less than a one-way "
        "delay ({delay}): it may still have been on its way. Check the CDN's read "
        "timeout against the origin's response time for this URL.",
    ),
    "weak_pair": Reason(
        _O.INCONCLUSIVE,
        _C.UNKNOWN,
        "The origin connection was paired only by {matched_by}, which other connections "
        "share: too weak to blame anyone on. Capture both ends with TCP timestamps on, or "
        "give --clock-offset.",
    ),
    # --- 525: the TLS handshake failed -------------------------------------------------
    "tls_path_intercepted": Reason(
        _O.TLS_HANDSHAKE_FAILED,
        _C.PATH,
        "The ClientHello never reached the origin but the edge got an answer: a device "
        "in the path (TLS inspection, SNI filter) ended the handshake. Show the carrier "
        "both captures.",
    ),
    "tls_edge_refused_certificate": Reason(
        _O.TLS_HANDSHAKE_FAILED,
        _C.ORIGIN,
        "The edge refused the origin's certificate or TLS parameters ({alert}, sent by "
        "the edge): check the origin's certificate chain, its names (SNI) and expiry, "
        "and the TLS versions it offers.",
    ),
    "tls_origin_protocol_version": Reason(
        _O.TLS_HANDSHAKE_FAILED,
        _C.ORIGIN,
        "The origin refused the TLS versions the CDN offered ({alert}; ClientHello up to "
        "{offered}): allow on the origin a version the CDN's origin pull supports "
        "(TLS 1.2), or raise the CDN's maximum.",
    ),
    "tls_origin_no_common_parameters": Reason(
        _O.TLS_HANDSHAKE_FAILED,
        _C.ORIGIN,
        "The origin ended the handshake with a generic failure ({alert}), most often no "
        "cipher suite or signature algorithm in common: compare the ciphers the origin "
        "allows with the ClientHello, then its certificate for the SNI name.",
    ),
    "tls_origin_unrecognized_name": Reason(
        _O.TLS_HANDSHAKE_FAILED,
        _C.ORIGIN,
        "The origin has no certificate for the SNI name the CDN sent ({alert}): configure "
        "the site's name on the origin, or the CDN's origin host header.",
    ),
    "tls_origin_refused": Reason(
        _O.TLS_HANDSHAKE_FAILED,
        _C.ORIGIN,
        "The origin refused the TLS handshake ({alert}): check its certificate (SNI, "
        "chain, expiry), the TLS versions and ciphers it allows, against what the CDN "
        "offers.",
    ),
    "tls_origin_closed": Reason(
        _O.TLS_HANDSHAKE_FAILED,
        _C.ORIGIN,
        "The origin closed the connection during the handshake without an alert: check "
        "that the port speaks TLS, and the origin's TLS error log.",
    ),
    "tls_path_ended": Reason(
        _O.TLS_HANDSHAKE_FAILED,
        _C.PATH,
        "The origin carried on with the handshake, but the edge saw it fail: something "
        "in the path changed or ended it. Show the carrier both captures.",
    ),
    # --- 521: the connection was refused -----------------------------------------------
    "origin_refused": Reason(
        _O.RST_ON_CONNECT,
        _C.ORIGIN,
        "Nothing listens on port {port} at the origin, or its firewall rejects the CDN: "
        "check the listening socket (ss -ltn) and the firewall's whitelist of CDN node "
        "addresses.",
    ),
    "path_rejected": Reason(
        _O.RST_ON_CONNECT,
        _C.PATH,
        "The RST did not come from the origin: a firewall in the path rejects the "
        "connection. Show the carrier or upstream firewall both captures.",
    ),
    "origin_reset_before_request": Reason(
        _O.RST_ON_CONNECT,
        _C.ORIGIN,
        "The origin accepted the connection and reset it at once, before any request was "
        "sent: check its accept limits (connection caps, rate limits, a proxy in front "
        "that resets), and its error log at that time.",
    ),
    "path_reset_before_request": Reason(
        _O.RST_ON_CONNECT,
        _C.PATH,
        "The connection was reset right after the handshake, before any request, by a "
        "RST the origin never sent: a device in the path injects it. Give the carrier "
        "both captures.",
    ),
    # --- 522: no answer to the SYN -----------------------------------------------------
    "syn_dropped_in_path": Reason(
        _O.SYN_NOT_RECEIVED,
        _C.PATH,
        "The SYNs never reached the origin: an ISP or upstream firewall drops them. Give "
        "the carrier both captures.",
    ),
    "syn_unreachable": Reason(
        _O.SYN_NOT_RECEIVED,
        _C.PATH,
        "A router in the path ({router}) answered the SYN with ICMP {kind}: the SYN never "
        "got past it (routing, a filter there, or the origin host down behind it). Give "
        "the carrier the capture, with that router's address.",
    ),
    "origin_refused_by_icmp": Reason(
        _O.RST_ON_CONNECT,
        _C.ORIGIN,
        "The origin host answered the SYN with ICMP {kind} instead of a SYN-ACK: its "
        "firewall rejects the CDN (iptables REJECT). Check the whitelist of CDN node "
        "addresses.",
    ),
    "syn_not_answered": Reason(
        _O.SYN_NOT_ANSWERED,
        _C.ORIGIN,
        "The SYNs arrived but the origin never answered: a host firewall after the "
        "capture point (iptables DROP), a full accept backlog, or a hung service. Check "
        "the firewall's whitelist of CDN addresses first.",
    ),
    "synack_lost": Reason(
        _O.SYNACK_NOT_RECEIVED,
        _C.PATH,
        "The origin answered but the SYN-ACK never reached the edge: check the return "
        "path (asymmetric routing, a firewall on the way back).",
    ),
    "refusal_lost": Reason(
        _O.SYNACK_NOT_RECEIVED,
        _C.PATH,
        "The origin refused with a RST that never reached the edge: the port is closed at "
        "the origin, and the return path drops packets.",
    ),
    # --- 520: reset after the request ------------------------------------------------
    "origin_reset_after_request": Reason(
        _O.RST_AFTER_REQUEST,
        _C.ORIGIN,
        "The origin reset the connection after the request, {progress}: check its error "
        "log at that time (crash, worker killed, request rejected, keep-alive reused "
        "after close).",
    ),
    "reset_injected_after_request": Reason(
        _O.RST_AFTER_REQUEST,
        _C.PATH,
        "The origin sent no RST: it was injected in the path (firewall, IPS, censor); "
        "{request_fate}. Give the carrier both captures.",
    ),
    # --- an answer the origin never sent (HTTP hijack) -------------------------------
    "answer_not_from_origin": Reason(
        _O.REQUEST_NOT_SEEN,
        _C.PATH,
        "The edge got an answer the origin never sent ({request_fate}): something in the "
        "path answers for the origin (transparent proxy, HTTP hijack). Give the carrier "
        "both captures.",
    ),
    # --- 520: an answer a CDN cannot pass on ------------------------------------------
    "origin_invalid_response": Reason(
        _O.INVALID_RESPONSE,
        _C.ORIGIN,
        "The origin's answer is not a valid HTTP response ({problem}): check what listens "
        "on port {port} (another protocol, TLS on a plain HTTP port) and the origin's "
        "error log.",
    ),
    "origin_truncated_response": Reason(
        _O.INVALID_RESPONSE,
        _C.ORIGIN,
        "The origin closed the connection before its answer was complete ({progress}): "
        "check its error log (a worker that died mid-response, a proxy timeout in front "
        "of the application).",
    ),
    "path_invalid_response": Reason(
        _O.INVALID_RESPONSE,
        _C.PATH,
        "The edge got an answer that is not a valid HTTP response ({problem}), which the "
        "origin never sent: something in the path changed it. Give the carrier both "
        "captures.",
    ),
    "edge_only_invalid_response": Reason(
        _O.INVALID_RESPONSE,
        _C.UNKNOWN,
        "The answer is not a valid HTTP response ({problem}). An origin capture tells "
        "whether the origin sent it so.",
    ),
    # --- 524: no response --------------------------------------------------------------
    "origin_silent": Reason(
        _O.NO_RESPONSE,
        _C.ORIGIN,
        "The origin took the request but did not answer in the {gap} before the edge gave "
        "up: check the origin's processing time for this URL against the CDN's read "
        "timeout.",
    ),
    "origin_answered_late": Reason(
        _O.NO_RESPONSE,
        _C.ORIGIN,
        "The origin answered only {gap} after the edge had given up: check the origin's "
        "processing time for this URL against the CDN's read timeout.",
    ),
    "origin_stalled": Reason(
        _O.NO_RESPONSE,
        _C.ORIGIN,
        "The origin stopped answering part-way ({progress}) and the edge gave up "
        "{gap} after its request: check the origin's processing of this URL (a stalled "
        "backend, a slow upstream) against the CDN's read timeout.",
    ),
    "response_lost": Reason(
        _O.NO_RESPONSE,
        _C.PATH,
        "The origin answered but the response never reached the edge: check the return "
        "path (MTU/fragmentation, a firewall).",
    ),
    "response_blackholed": Reason(
        _O.NO_RESPONSE,
        _C.PATH,
        "The origin's response never reached the edge, and a router on the way back "
        "({router}) told the origin its packets were too big (MTU {mtu}): a path MTU black "
        "hole. Let ICMP 'fragmentation needed' / 'packet too big' reach the origin, or "
        "lower its MSS (e.g. iptables TCPMSS --clamp-mss-to-pmtu).",
    ),
    "request_lost": Reason(
        _O.NO_RESPONSE,
        _C.PATH,
        "The request never reached the origin and no answer came: something in the path "
        "swallows it (MTU/fragmentation, a firewall). Give the carrier both captures.",
    ),
    "reset_injected_toward_origin": Reason(
        _O.NO_RESPONSE,
        _C.PATH,
        "A RST forged in the edge's name ended the connection at the origin: a device in "
        "the path injects RSTs. Give the carrier both captures.",
    ),
    # --- ok ------------------------------------------------------------------------------
    "answered": Reason(_O.OK, _C.NONE, "Request answered."),
    "answered_still_open": Reason(
        _O.OK,
        _C.NONE,
        "Every request the edge capture shows was answered; the connection was still open "
        "(kept alive) when the capture ended.",
    ),
    "no_request": Reason(_O.OK, _C.NONE, "The connection was opened and closed without a request."),
    "idle_at_capture_end": Reason(
        _O.OK,
        _C.NONE,
        "The connection was open, with no request yet, when the edge capture ended (an "
        "idle or pooled connection): nothing failed on it while the capture ran.",
    ),
    # --- the edge capture alone --------------------------------------------------------
    "edge_only_no_synack": Reason(
        _O.NO_SYNACK,
        _C.UNKNOWN,
        "The SYNs got no answer. Capture on the origin at the same time to tell a path "
        "drop (syn_not_received), an origin firewall (syn_not_answered) and a lost "
        "SYN-ACK (synack_not_received) apart.",
    ),
    "edge_only_refused": Reason(
        _O.RST_ON_CONNECT,
        _C.UNKNOWN,
        "The SYN was answered with a RST: the port is closed at the origin or a firewall "
        "rejects the CDN. An origin capture tells which.",
    ),
    "edge_only_reset_before_request": Reason(
        _O.RST_ON_CONNECT,
        _C.UNKNOWN,
        "The connection was reset right after the handshake, before any request. An "
        "origin capture tells whether the origin sent the RST.",
    ),
    "edge_only_reset_after_request": Reason(
        _O.RST_AFTER_REQUEST,
        _C.UNKNOWN,
        "A RST came after the request, {progress}. An origin capture tells whether the "
        "origin sent it or it was injected on the way.",
    ),
    "edge_only_no_response": Reason(
        _O.NO_RESPONSE,
        _C.UNKNOWN,
        "No response in the {gap} before the edge gave up. An origin capture tells whether "
        "the origin was slow or its answer got lost.",
    ),
    "edge_only_tls_failed": Reason(
        _O.TLS_HANDSHAKE_FAILED,
        _C.UNKNOWN,
        "The TLS handshake failed. Check the origin's certificate and TLS versions; an "
        "origin capture tells whether the ClientHello arrived.",
    ),
    "edge_only_tls_edge_refused_certificate": Reason(
        _O.TLS_HANDSHAKE_FAILED,
        _C.UNKNOWN,
        "The edge refused the certificate or TLS parameters it was sent ({alert}, sent by "
        "the edge): check the origin's certificate chain, names (SNI) and expiry. An "
        "origin capture tells whether the origin sent it or something in the path did.",
    ),
}


def explain(reason: str, facts: dict[str, str]) -> str:
    """The sentence for ``reason`` with its facts filled in."""
    return REASONS[reason].text.format_map(facts)
