"""A ``RaftFrame``'s bytes written directly, byte for byte what protobuf would serialize
(sans-I/O, pure).

Why not protobuf's own encoder (``codec.encode_frame`` + ``SerializeToString``): at RF=3
a leader builds one ``RaftMessage`` per append and one ``RaftEntry`` per entry -- each a
keyword call into protobuf that copies the entry's record batch into protobuf's arena --
and then serializes the frame, copying every batch a second time, and the link copied it
a third time to put the 4-byte length in front (issue 22: session 8's blocking profile
gave it 6-12 % of a leader's loop). Here the frame is written once into one ``bytearray``
that starts with room for the link's length prefix; each batch is copied once. Measured:
0.71-0.99 of protobuf's CPU per frame (``bench/raft_frame_cost.py``), no change the RF=3
e2e workload's CPU could resolve (bench/README.md, session 9) -- the link's cost is the
send itself. The receiver still parses
with protobuf (``rpc_wire.parse_raft_frame``), so the format is unchanged and a peer
running an older build reads these frames as before.

The hot kinds -- appends, their answers, coalesced heartbeats and their answers, loss
reports -- are written here; the rare ones (votes, snapshots, TimeoutNow) go through
protobuf (``codec.message_proto``) and are embedded as they are. Field order and the
omission of default values follow protobuf's (proto3) serializer, which writes fields in
field-number order: tests/cluster/test_frame_encode.py compares the two byte for byte.

Thread-safe: pure functions (the group-name cache is a bounded ``lru_cache``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Final

from logd.cluster.codec import GroupMessage, message_proto
from replication import AppendRequest, AppendResponse, Heartbeat, HeartbeatResponse

__all__ = ["HEADER_ROOM", "encode_frame_bytes"]

#: The bytes left free at the start of every encoded frame: the TCP link's length prefix
#: (``rpc_wire.HEADER_BYTES``) goes there without a copy of the frame.
HEADER_ROOM: Final = 4

_MASK64: Final = (1 << 64) - 1  # negative int32/int64 are ten-byte varints (two's complement)

# Tags: (field number << 3) | wire type (0 varint, 2 length-delimited); cluster.proto.
_F_SRC, _F_DST, _F_MESSAGES = 0x08, 0x10, 0x1A
_F_HB_GROUPS, _F_HB_TERMS, _F_HB_COMMITS = 0x22, 0x2A, 0x32
_F_HR_GROUPS, _F_HR_TERMS = 0x3A, 0x42
_F_LOST_GROUPS, _F_LOST_OFFSETS = 0x4A, 0x52
_F_HB_QUIESCE, _F_HR_WAKE = 0x5A, 0x62
_M_TYPE, _M_TERM, _M_PREV_OFFSET, _M_PREV_TERM, _M_COMMIT = 0x10, 0x18, 0x20, 0x28, 0x30
_M_ENTRIES, _M_REJECT, _M_HINT_OFFSET, _M_HINT_TERM = 0x3A, 0x40, 0x48, 0x50
_E_TERM, _E_BASE, _E_LAST, _E_KIND, _E_DATA = 0x08, 0x10, 0x18, 0x20, 0x2A
_APPEND_RESPONSE: Final = 1  # RaftMessage.Type


def _varint_size(value: int) -> int:
    """The bytes of ``value``'s varint (non-negative ``value``)."""
    return max(1, (value.bit_length() + 6) // 7)


def _varint(out: bytearray, value: int) -> None:
    value &= _MASK64
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _fields(out: bytearray, fields: tuple[tuple[int, int], ...]) -> None:
    """Varint fields (tag, value), each left out at its default (0), as proto3 does. One
    call per message, the varint loop inline: this runs for every entry and answer."""
    for tag, given in fields:
        if given:
            out.append(tag)
            value = given & _MASK64
            while value > 0x7F:
                out.append((value & 0x7F) | 0x80)
                value >>= 7
            out.append(value)


@functools.lru_cache(maxsize=1 << 14)
def _string(tag: int, text: str) -> bytes:
    """A string field (tag, length, UTF-8): a group's name is written many times a second."""
    raw = text.encode()
    out = bytearray((tag,))
    _varint(out, len(raw))
    return bytes(out + raw)


def _group(group: str) -> bytes:
    """A message's group (field 1; proto3 leaves an empty string out)."""
    return _string(0x0A, group) if group else b""


def _bytes_field(out: bytearray, tag: int, body: bytes | bytearray | memoryview) -> None:
    out.append(tag)
    _varint(out, len(body))
    out += body


def _append_request(out: bytearray, group: str, m: AppendRequest) -> None:
    head = bytearray(_group(group))  # type APPEND is 0: left out
    _fields(head, ((_M_TERM, m.term), (_M_PREV_OFFSET, m.prev_offset),
                   (_M_PREV_TERM, m.prev_term), (_M_COMMIT, m.commit)))  # fmt: skip
    size = len(head)
    entries = []
    for e in m.entries:
        n = len(e.data)
        eh = bytearray()
        _fields(eh, ((_E_TERM, e.term), (_E_BASE, e.base_offset), (_E_LAST, e.last_offset),
                     (_E_KIND, e.kind), (_E_DATA, n)))  # fmt: skip
        # eh ends with the data's tag and length (left out when empty, as protobuf does)
        entries.append((len(eh) + n, eh, e.data))
        size += 1 + _varint_size(len(eh) + n) + len(eh) + n
    out.append(_F_MESSAGES)
    _varint(out, size)
    out += head
    for entry_size, eh, data in entries:
        out.append(_M_ENTRIES)
        _varint(out, entry_size)
        out += eh
        out += data


def _append_response(out: bytearray, group: str, m: AppendResponse) -> None:
    body = bytearray(_group(group))
    _fields(body, ((_M_TYPE, _APPEND_RESPONSE), (_M_TERM, m.term),
                   (_M_PREV_OFFSET, m.match_offset), (_M_REJECT, m.reject),
                   (_M_HINT_OFFSET, m.hint_offset), (_M_HINT_TERM, m.hint_term)))  # fmt: skip
    _bytes_field(out, _F_MESSAGES, body)


def _packed(out: bytearray, tag: int, values: Sequence[int]) -> None:
    if values:
        body = bytearray()
        for v in values:
            _varint(body, v)
        _bytes_field(out, tag, body)


def _strings(out: bytearray, tag: int, values: Sequence[str]) -> None:
    for v in values:
        out += _string(tag, v)


def encode_frame_bytes(
    src: int,
    dst: int,
    messages: Iterable[GroupMessage],
    losses: Sequence[tuple[str, int]] = (),
) -> bytearray:
    """The bytes of ``codec.encode_frame(src, dst, messages, losses)``, after
    :data:`HEADER_ROOM` zero bytes (room for the link's length prefix)."""
    out = bytearray(HEADER_ROOM)
    _fields(out, ((_F_SRC, src), (_F_DST, dst)))
    hb_groups: list[str] = []
    hb_terms: list[int] = []
    hb_commits: list[int] = []
    hb_quiesce: list[int] = []
    hr_groups: list[str] = []
    hr_terms: list[int] = []
    hr_wake: list[int] = []
    for group, m in messages:
        assert m.src == src and m.dst == dst, (src, dst, m)
        if isinstance(m, AppendRequest):
            _append_request(out, group, m)
        elif isinstance(m, AppendResponse):
            _append_response(out, group, m)
        elif isinstance(m, Heartbeat):
            hb_groups.append(group)
            hb_terms.append(m.term)
            hb_commits.append(m.commit)
            hb_quiesce.append(int(m.quiesce))
        elif isinstance(m, HeartbeatResponse):
            hr_groups.append(group)
            hr_terms.append(m.term)
            hr_wake.append(int(m.wake))
        else:
            _bytes_field(out, _F_MESSAGES, message_proto(group, m).SerializeToString())
    _strings(out, _F_HB_GROUPS, hb_groups)
    _packed(out, _F_HB_TERMS, hb_terms)
    _packed(out, _F_HB_COMMITS, hb_commits)
    _strings(out, _F_HR_GROUPS, hr_groups)
    _packed(out, _F_HR_TERMS, hr_terms)
    _strings(out, _F_LOST_GROUPS, [group for group, _ in losses])
    _packed(out, _F_LOST_OFFSETS, [last for _, last in losses])
    if any(hb_quiesce):
        _packed(out, _F_HB_QUIESCE, hb_quiesce)
    if any(hr_wake):
        _packed(out, _F_HR_WAKE, hr_wake)
    return out
