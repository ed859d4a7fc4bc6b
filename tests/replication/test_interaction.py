"""The interaction scripts in testdata/ must print exactly what they expect.

After an intended change: ``python -m tests.replication.interaction --rewrite``, then
read the diff of testdata/ as carefully as code.
"""

from __future__ import annotations

import pathlib

import pytest

from tests.replication.interaction import TESTDATA, run_file

SCRIPTS = sorted(TESTDATA.glob("*.txt"))


def test_the_scripts_cover_the_issue() -> None:
    names = {p.stem for p in SCRIPTS}
    assert {"campaign", "replication", "conflicts", "transfer"} <= names
    assert {"confchange_single", "confchange_joint", "prevote_checkquorum"} <= names


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_script(path: pathlib.Path) -> None:
    problems = run_file(path)
    assert not problems, "\n\n".join(problems)


def test_a_changed_expectation_is_reported(tmp_path: pathlib.Path) -> None:
    script = tmp_path / "wrong.txt"
    script.write_text("add-nodes 1 voters=1\n----\nnot ok\n")
    problems = run_file(script)
    assert len(problems) == 1 and "not ok" in problems[0]
    run_file(script, rewrite=True)
    assert script.read_text() == "add-nodes 1 voters=1\n----\nok\n"
