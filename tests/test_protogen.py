"""The committed protobuf modules match the .proto sources, and the error tables agree."""

from __future__ import annotations

from pathlib import Path

from logd.errors import ErrorCode, LogdError, error_for_code
from logd.protogen import REPO_ROOT, generate
from logd.v1 import common_pb2


def test_generated_modules_are_not_stale(tmp_path: Path) -> None:
    fresh = generate(tmp_path)
    assert fresh, "protoc wrote nothing"
    committed_dir = REPO_ROOT / "logd" / "v1"
    stale = []
    for path in fresh:
        committed = committed_dir / path.name
        if not committed.exists() or committed.read_bytes() != path.read_bytes():
            stale.append(path.name)
    extra = {p.name for p in committed_dir.glob("*_pb2*.py*")} - {p.name for p in fresh}
    assert not stale, f"run `make proto`: stale generated modules {stale}"
    assert not extra, f"generated modules without a .proto source: {sorted(extra)}"


def test_proto_error_enum_matches_errors_module() -> None:
    wire = {v.name: v.number for v in common_pb2.ErrorCode.DESCRIPTOR.values}
    local = {c.name: int(c) for c in ErrorCode}
    assert wire == local


def test_every_code_maps_to_an_exception_with_that_code() -> None:
    for code in ErrorCode:
        if code is ErrorCode.NONE:
            continue
        err = error_for_code(int(code), "boom")
        assert isinstance(err, LogdError)
        assert err.code is code, f"{code.name} has no exception class of its own"
        assert str(err) == "boom"


def test_an_unknown_code_becomes_unknown_server_error() -> None:
    err = error_for_code(31337)
    assert err.code is ErrorCode.UNKNOWN_SERVER_ERROR
    assert "31337" in str(err)
