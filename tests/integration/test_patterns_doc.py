"""Every Python block of docs/patterns.md and README.md runs, as a program, against a real
broker.

The page is the source: each ```python block is written to a file and run with
``LOGD_BROKERS`` pointing at a broker configured for quick group joins; it must exit 0
(each example asserts what it shows). Blocks run one after another on one broker, as a
reader would run them, each with its own topics and groups.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cluster import BrokerProcess
from tests.integration.group_support import running_group_broker

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "patterns.md"
README = ROOT / "README.md"
DEFAULT_KAFKA = "127.0.0.1:9092"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
_HEADING = re.compile(r"^## (.+)$", re.MULTILINE)


def examples(doc: Path = DOC) -> list[tuple[str, str]]:
    """(the section it is in, the code) of every Python block of the page."""
    text = doc.read_text()
    out = []
    for match in _BLOCK.finditer(text):
        headings = _HEADING.findall(text, 0, match.start())
        section = headings[-1] if headings else "intro"
        out.append((section, match.group(1)))
    return out


EXAMPLES = examples()
#: The README's own examples run the same way (prefixed so a failure names the page).
ALL_EXAMPLES = EXAMPLES + [(f"README: {s}", code) for s, code in examples(README)]


def test_the_readme_has_a_python_example() -> None:
    assert any(s.startswith("README: From Python") for s, _ in ALL_EXAMPLES)


def test_the_page_has_an_example_of_every_pattern() -> None:
    sections = {section for section, _ in EXAMPLES}
    for pattern in ("Queue", "Publish/subscribe", "Fire-and-forget", "Request/reply",
                    "Event channel", "Replay", "Delivery reports"):  # fmt: skip
        assert any(s.startswith(pattern) for s in sections), pattern


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    yield from running_group_broker(tmp_path_factory.mktemp("patterns"))


@pytest.mark.parametrize(
    ("section", "code"),
    ALL_EXAMPLES,
    ids=[f"{i}-{s.split(':')[0]}" for i, (s, _) in enumerate(ALL_EXAMPLES)],
)
def test_the_example_runs(broker: BrokerProcess, tmp_path: Path, section: str, code: str) -> None:
    program = tmp_path / "example.py"
    # The README's Kafka-client example names the default Kafka port, as a reader's `make
    # run` serves it; here it talks to this broker's Kafka listener (a free port).
    program.write_text(code.replace(DEFAULT_KAFKA, broker.bound().get("kafka", DEFAULT_KAFKA)))
    done = subprocess.run(
        [sys.executable, str(program)],
        env={**os.environ, "LOGD_BROKERS": broker.address},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"{section}:\n{done.stdout}\n{done.stderr}"
    print(f"\n[{section}] {done.stdout.strip()}")
