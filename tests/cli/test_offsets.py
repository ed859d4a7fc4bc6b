"""The -o syntax of `logd consume` parses as DESIGN.md's contract says."""

from __future__ import annotations

import pytest

from cli.offsets import OffsetSpecError, Position, StartStop, parse_offset_spec, parse_time

NOW = 1_700_000_000_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("start", StartStop(Position("start"), None)),
        ("end", StartStop(Position("end"), None)),
        ("42", StartStop(Position("offset", 42), None)),
        ("-10", StartStop(Position("from_end", 10), None)),
        ("@1700000000000", StartStop(Position("time", 1_700_000_000_000), None)),
        ("@1700000000", StartStop(Position("time", 1_700_000_000_000), None)),
        ("@-1h", StartStop(Position("time", NOW - 3_600_000), None)),
        ("@-1h30m", StartStop(Position("time", NOW - 5_400_000), None)),
        (":end", StartStop(Position("start"), Position("end"))),
        ("start:end", StartStop(Position("start"), Position("end"))),
        ("10:20", StartStop(Position("offset", 10), Position("offset", 20))),
        ("-5:end", StartStop(Position("from_end", 5), Position("end"))),
        (
            "@-2h:@-1h",
            StartStop(Position("time", NOW - 7_200_000), Position("time", NOW - 3_600_000)),
        ),
        (
            "@2023-11-14T22:13:20Z",
            StartStop(Position("time", 1_700_000_000_000), None),
        ),
        (
            "@2023-11-14T22:13:20Z:end",
            StartStop(Position("time", 1_700_000_000_000), Position("end")),
        ),
        (
            "@2023-11-14T22:13:20+00:00:@2023-11-14T22:13:21+00:00",
            StartStop(Position("time", 1_700_000_000_000), Position("time", 1_700_000_001_000)),
        ),
    ],
)
def test_valid_specs(text: str, expected: StartStop) -> None:
    assert parse_offset_spec(text, NOW) == expected


@pytest.mark.parametrize(
    "text", ["", "begin", "1.5", "@", "@yesterday", "10:start", "10:-5", "a:b", "@-1x", "--3"]
)
def test_invalid_specs_raise_one_clear_error(text: str) -> None:
    with pytest.raises(OffsetSpecError) as info:
        parse_offset_spec(text, NOW)
    message = str(info.value)
    assert "\n" not in message
    assert "use" in message


def test_naive_rfc3339_is_utc() -> None:
    assert parse_time("2023-11-14T22:13:20", NOW) == 1_700_000_000_000
