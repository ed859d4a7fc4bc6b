"""Compression codecs of a RecordBatch's records, numbered as Kafka numbers them.

* 0 none.
* 1 gzip: the gzip container (Kafka writes it with ``GZIPOutputStream``), through zlib.
* 2 snappy: Kafka's Java producer writes xerial's framing (``\x82SNAPPY\x00``, two int32
  versions, then blocks of an int32 length and raw snappy, each of at most 32 KiB of
  input), librdkafka plain raw snappy; we read both, as xerial's ``SnappyInputStream``
  does, and write xerial's framing, as Kafka does. Through ``cramjam`` (Rust), whose
  ``decompress_raw_len`` reads a block's declared size so it is checked before anything is
  allocated.
* 3 lz4: the LZ4 *frame* format with independent 64 KiB blocks and no content size, which
  is what Kafka's ``KafkaLZ4BlockOutputStream`` writes and its reader accepts; the ``lz4``
  package links blocks by default, which Kafka rejects (DESIGN.md principle 2).
* 4 zstd: when ``zstandard`` is importable, else :class:`UnsupportedCompressionTypeError`.
* 5-7: not codecs at all: :class:`UnsupportedCompressionTypeError`.

Decompression never produces more than ``limit`` bytes, whatever the input claims: each
codec is streamed in bounded steps and stops with :class:`CorruptRecordError` as soon as
the output would exceed the limit (no decompression bombs, DESIGN.md principle 8); a zstd
frame that declares its size is refused up front when that size is over the limit. A
truncated stream, or bytes after its end, is corrupt too. Errors of the C libraries are
translated here, at this one boundary (STYLE.md 11).

Pure functions; the codec objects are created per call, so this module is thread-safe.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any, Final

import cramjam
import lz4.frame

from logd.errors import CorruptRecordError, UnsupportedCompressionTypeError
from logd.records.header import Compression

try:
    import zstandard as _zstd
except ImportError:  # pragma: no cover - zstandard is an optional extra
    _zstd = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_MAX_UNCOMPRESSED_BYTES",
    "available_codecs",
    "check_codec",
    "compress",
    "decompress",
]

#: Default bound on the decompressed size of one batch's records.
DEFAULT_MAX_UNCOMPRESSED_BYTES: Final = 64 << 20

_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS
_GZIP_LEVEL: Final = 6  # java.util.zip.Deflater's default, which Kafka's gzip uses
_ZSTD_LEVEL: Final = 3  # Kafka's default zstd level
# The largest output one input byte of a zstd frame can yield: a 4-byte RLE block (3-byte
# header + 1 byte) expands to a 128 KiB block (RFC 8878 3.1.1.2), a ratio of 2**15.
_ZSTD_MAX_RATIO_SHIFT: Final = 15
_ZSTD_MIN_STEP: Final = 32  # so at most 32 << 15 = 1 MiB past the limit, ever
_FIRST_CHUNK_MIN: Final = 64 << 10
_XERIAL_HEADER: Final = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)
_XERIAL_MAGIC: Final = _XERIAL_HEADER[:8]
_XERIAL_BLOCK: Final = 32 << 10  # xerial's SnappyOutputStream default, which Kafka uses
_I32: Final = struct.Struct(">i")


def available_codecs() -> frozenset[Compression]:
    """The codecs this process can both write and read."""
    codecs = {Compression.NONE, Compression.GZIP, Compression.LZ4, Compression.SNAPPY}
    if _zstd is not None:
        codecs.add(Compression.ZSTD)
    return frozenset(codecs)


def check_codec(codec: int) -> Compression:
    """``codec`` as a :class:`Compression` this process supports, else the typed error."""
    try:
        known = Compression(codec)
    except ValueError:
        raise UnsupportedCompressionTypeError(f"unknown compression codec {codec}") from None
    if known not in available_codecs():
        hint = " (install the zstd extra)" if known is Compression.ZSTD else ""
        raise UnsupportedCompressionTypeError(
            f"compression codec {known.name.lower()} is not supported{hint}"
        )
    return known


def compress(codec: int, data: bytes, level: int | None = None) -> bytes:
    """``data`` compressed as Kafka compresses a batch's records with ``codec``."""
    known = check_codec(codec)
    if known is Compression.NONE:
        return data
    if known is Compression.LZ4:
        return bytes(
            lz4.frame.compress(
                data,
                compression_level=level or 0,
                block_size=lz4.frame.BLOCKSIZE_MAX64KB,
                block_linked=False,
                store_size=False,
            )
        )
    if known is Compression.SNAPPY:
        return _snappy_compress(data)
    if known is Compression.GZIP:
        gz = zlib.compressobj(_GZIP_LEVEL if level is None else level, zlib.DEFLATED, _GZIP_WBITS)
        return gz.compress(data) + gz.flush()
    assert known is Compression.ZSTD and _zstd is not None
    return bytes(_zstd.ZstdCompressor(level=_ZSTD_LEVEL if level is None else level).compress(data))


def decompress(
    codec: int, data: bytes | memoryview, limit: int = DEFAULT_MAX_UNCOMPRESSED_BYTES
) -> bytes:
    """Decompress a batch's records, producing at most ``limit`` bytes.

    Raises :class:`UnsupportedCompressionTypeError` for a codec this process cannot read,
    and :class:`CorruptRecordError` for a stream that is malformed, truncated, followed by
    other bytes, or that would decompress to more than ``limit`` bytes.
    """
    known = check_codec(codec)
    if known is Compression.NONE:
        return bytes(data)
    try:
        if known is Compression.LZ4:
            return _lz4_decompress(data, limit)
        if known is Compression.GZIP:
            return _gzip_decompress(data, limit)
        if known is Compression.SNAPPY:
            return _snappy_decompress(data, limit)
        return _zstd_decompress(data, limit)
    except (RuntimeError, ValueError, OSError, zlib.error, cramjam.DecompressionError) as exc:
        raise CorruptRecordError(f"cannot decompress {known.name.lower()} records: {exc}") from None
    except Exception as exc:
        if _zstd is not None and isinstance(exc, _zstd.ZstdError):
            raise CorruptRecordError(f"cannot decompress zstd records: {exc}") from None
        raise


def _too_large(limit: int) -> CorruptRecordError:
    return CorruptRecordError(f"records decompress to more than the {limit}-byte limit")


def _lz4_decompress(data: bytes | memoryview, limit: int) -> bytes:
    decompressor = lz4.frame.LZ4FrameDecompressor()
    # lz4 allocates max_length up front, so start near the likely size and grow, rather than
    # asking for the whole limit at once.
    step = min(limit + 1, max(_FIRST_CHUNK_MIN, 4 * len(data)))
    chunks: list[bytes] = []
    total = 0
    source: bytes | memoryview = data
    while True:
        chunk = decompressor.decompress(source, max_length=min(step, limit + 1 - total))
        source = b""
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if decompressor.eof:
            break
        if decompressor.needs_input:
            raise CorruptRecordError("truncated lz4 frame")
        step *= 2
    if decompressor.unused_data:
        raise CorruptRecordError("bytes after the end of the lz4 frame")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _gzip_decompress(data: bytes | memoryview, limit: int) -> bytes:
    # A gzip stream may hold several members back to back (Java's GZIPInputStream reads
    # them all); each gets a fresh decompressor. zlib grows its output buffer as it goes, so
    # max_length = limit + 1 allocates nothing up front.
    chunks: list[bytes] = []
    total = 0
    source: bytes | memoryview = data
    while True:
        gz = zlib.decompressobj(_GZIP_WBITS)
        chunk = gz.decompress(source, limit + 1 - total)
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not gz.eof:
            raise CorruptRecordError("truncated gzip stream")
        source = gz.unused_data
        if not source:
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _zstd_decompress(data: bytes | memoryview, limit: int) -> bytes:
    assert _zstd is not None
    view = memoryview(data)
    # A frame that declares its size (one-shot compressors, ours and kafka-python's, do)
    # is checked against the limit up front and then decoded in one call: libzstd refuses
    # to write past the declared size. Kafka's Java producer streams, so its frames have no
    # size; decompressobj has no output bound, so those are fed in steps small enough that
    # even the densest frame cannot overshoot the remaining budget by more than 1 MiB.
    declared = int(_zstd.frame_content_size(view))
    if declared > limit:
        raise _too_large(limit)
    obj: Any = _zstd.ZstdDecompressor().decompressobj()
    chunks: list[bytes] = []
    total = 0
    pos = 0
    while pos < len(view) and not obj.eof:
        if declared >= 0:
            step = len(view)
        else:
            step = max(_ZSTD_MIN_STEP, (limit - total) >> _ZSTD_MAX_RATIO_SHIFT)
        chunk = obj.decompress(view[pos : pos + step])
        pos += step
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    if not obj.eof:
        raise CorruptRecordError("truncated zstd frame")
    if obj.unused_data or pos < len(view):
        raise CorruptRecordError("bytes after the end of the zstd frame")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _snappy_compress(data: bytes) -> bytes:
    """xerial's framing, as Kafka's Java producer writes it."""
    out = [_XERIAL_HEADER]
    for start in range(0, len(data), _XERIAL_BLOCK):
        block = bytes(cramjam.snappy.compress_raw(data[start : start + _XERIAL_BLOCK]))
        out.append(_I32.pack(len(block)))
        out.append(block)
    return b"".join(out)


def _snappy_decompress(data: bytes | memoryview, limit: int) -> bytes:
    view = memoryview(data)
    if bytes(view[:8]) != _XERIAL_MAGIC:
        return _snappy_block(view, limit)
    if len(view) < len(_XERIAL_HEADER):
        raise CorruptRecordError("truncated snappy (xerial) header")
    pos = len(_XERIAL_HEADER)
    chunks: list[bytes] = []
    total = 0
    while pos < len(view):
        if pos + 4 > len(view):
            raise CorruptRecordError("truncated snappy (xerial) block length")
        (size,) = _I32.unpack_from(view, pos)
        pos += 4
        if size < 0 or pos + size > len(view):
            raise CorruptRecordError(f"snappy (xerial) block of {size} bytes runs past the end")
        chunk = _snappy_block(view[pos : pos + size], limit - total)
        pos += size
        total += len(chunk)
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _snappy_block(block: memoryview, limit: int) -> bytes:
    """One raw snappy block; its declared size is checked before anything is allocated."""
    if int(cramjam.snappy.decompress_raw_len(block)) > limit:
        raise _too_large(limit)
    return bytes(cramjam.snappy.decompress_raw(block))
