"""Types of the Rust core (core/src/python.rs), for mypy and readers."""

def walk_pcap(
    chunk: bytearray,
    end: int,
    header_len: int,
    big_endian: bool,
    nanoseconds: bool,
    max_caplen: int,
    empty_limit: int,
    zero_run_bytes: int,
    chunk_bytes: int,
    empty_run: int,
) -> tuple[bytes, bytes, bytes, bytes, int, int, int, str, int, int]:
    """One chunk's pcap records as little-endian int64 columns (starts of the
    captured bytes, captured lengths, timestamps in ns, wire lengths), then where the
    walk stopped (pos), the bytes a cut record needs (want), the run of zero-length
    records so far, and why it stopped ("end", "zeros", "too_big") with the offset and,
    for "too_big", the claimed length."""

def walk_pcapng(
    buf: bytes,
    pos: int,
    end: int,
    big_endian: bool,
    interfaces: list[tuple[int, int, int, int]],
    max_block_len: int,
    limit: int,
) -> tuple[bytes, bytes, bytes, bytes, bytes, int]:
    """The consecutive whole, well-formed Enhanced Packet Blocks of ``buf`` from
    ``pos`` (at most ``limit``) as little-endian int64 columns: starts of the captured
    bytes, captured lengths, timestamps in ns, wire lengths, link types; then the
    offset of the first block not taken (``pos`` when none was)."""
