from collections.abc import Callable, Sequence
from typing import Any

def records_list(
    data: bytes,
    count: int,
    base_offset: int,
    base_timestamp: int,
    log_append_time: int | None,
    cls: type[tuple[Any, ...]],
    tail: tuple[Any, ...],
    min_offset: int,
    decode_headers: Callable[[bytes, int, int], tuple[Any, int]],
    error: type[Exception],
    /,
) -> list[Any]: ...
def value_frame(
    prefix_for: Callable[[int], bytes],
    header: bytes,
    values: Sequence[bytes | None],
    crc: Callable[[memoryview], int],
    /,
) -> tuple[bytes, int]: ...
