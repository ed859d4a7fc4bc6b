"""How `logd consume` prints records: JSON lines and %-formats."""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest

from cli.cluster.health import capped
from cli.formatting import FormatError, compile_format


@dataclasses.dataclass
class Rec:
    topic: str = "logs"
    partition: int = 2
    offset: int = 41
    timestamp: int = 1_700_000_000_000
    key: bytes | None = b"k1"
    value: bytes | None = b"hello"
    headers: list[tuple[str, bytes | None]] = dataclasses.field(default_factory=list)


def test_json_has_every_field_as_text_when_utf8() -> None:
    line = compile_format("json")(Rec(headers=[("h", b"v"), ("h", None)]))
    assert line.endswith(b"\n")
    assert json.loads(line) == {
        "topic": "logs",
        "partition": 2,
        "offset": 41,
        "timestamp": 1_700_000_000_000,
        "key": "k1",
        "value": "hello",
        "headers": [{"key": "h", "value": "v"}, {"key": "h", "value": None}],
    }


def test_json_uses_base64_for_binary_and_null_for_absent() -> None:
    obj = json.loads(compile_format("json")(Rec(key=None, value=b"\xff\x00")))
    assert obj["key"] is None
    assert "value" not in obj
    assert base64.b64decode(obj["value_b64"]) == b"\xff\x00"


def test_percent_format_with_escapes() -> None:
    render = compile_format(r"%t/%p@%o %d %k=%v [%h] 100%%\n")
    line = render(Rec(headers=[("a", b"1"), ("b", b"2")]))
    assert line == b"logs/2@41 1700000000000 k1=hello [a=1,b=2] 100%\n"


def test_value_bytes_are_written_raw() -> None:
    assert compile_format("%v")(Rec(value=b"\xff\xfe")) == b"\xff\xfe"
    assert compile_format("%k|%v")(Rec(key=None, value=None)) == b"|"


@pytest.mark.parametrize("spec", ["%x", "trailing %", r"\q"])
def test_bad_formats_are_rejected(spec: str) -> None:
    with pytest.raises(FormatError):
        compile_format(spec)


def test_health_lists_are_capped_and_say_how_many_more() -> None:
    names: list[object] = [f"t/{i}" for i in range(3000)]
    text = capped(names)
    assert text.startswith("[t/0 t/1 ") and text.endswith("t/9] and 2990 more")
    assert len(text) < 120
    assert capped(names[:3]) == "[t/0 t/1 t/2]"
    assert capped([]) == "[]"
