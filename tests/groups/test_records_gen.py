"""The committed ``logd/groups/records_gen.py`` is what ``make records`` makes from Kafka's
schemas under schemas/kafka/ (regenerated into a temporary file and compared)."""

from __future__ import annotations

from pathlib import Path

from logd.recordgen import OUTPUT, generate


def test_the_generated_records_are_not_stale(tmp_path: Path) -> None:
    fresh = generate(tmp_path / "records_gen.py")
    assert fresh == OUTPUT.read_text(), "run `make records`: records_gen.py is stale"
