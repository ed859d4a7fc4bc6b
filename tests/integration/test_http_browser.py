"""@stomp/stompjs in headless Chromium (Playwright driving Debian's chromium): pages served
by the test tail a topic over STOMP -- the README's own page (its CDN script and broker
address pointed at the test's), and one that starts from an offset and publishes a record the
gRPC client reads back -- receiving records the CLI produced.

stompjs comes from scripts/tools.d/stompjs.after (``.tools/npm``).
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from logd.client import Consumer, TopicPartition
from tests.integration.cluster import BrokerProcess
from tests.integration.http_support import create_topic

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STOMPJS = ROOT / ".tools/npm/node_modules/@stomp/stompjs/bundles/stomp.umd.min.js"
CDN = "https://cdn.jsdelivr.net/npm/@stomp/stompjs@7.5.0/bundles/stomp.umd.min.js"
LOGD = str(Path(sys.executable).with_name("logd"))
PAGE = """<!doctype html><meta charset="utf-8"><title>tail</title><ul id="out"></ul>
<script src="stomp.umd.min.js"></script>
<script>
  const q = new URLSearchParams(location.search);
  const client = new StompJs.Client({ brokerURL: q.get("ws"), reconnectDelay: 0 });
  client.onConnect = () => client.subscribe("/topic/" + q.get("topic"), (m) => {
    const li = document.createElement("li");
    li.textContent = m.headers["x-offset"] + " " + m.body;
    document.getElementById("out").append(li);
  }, { "x-offset": q.get("from") });
  client.onStompError = (f) => { document.title = "ERROR " + f.headers.message; };
  client.activate();
  window.stomp = client;
</script>
"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _readme_page(ws: str) -> str:
    (page,) = re.findall(r"^```html\n(.*?)^```", (ROOT / "README.md").read_text(),
                         re.DOTALL | re.MULTILINE)  # fmt: skip
    assert CDN in page and "ws://127.0.0.1:8082/stomp" in page
    return page.replace(CDN, STOMPJS.name).replace("ws://127.0.0.1:8082/stomp", ws)


@pytest.fixture(scope="module")
def page_url(
    tmp_path_factory: pytest.TempPathFactory, shared_broker: BrokerProcess
) -> Iterator[str]:
    """The pages and stompjs, served by this test on a free loopback port."""
    root = tmp_path_factory.mktemp("page")
    (root / "index.html").write_text(PAGE)
    (root / "readme.html").write_text(_readme_page(f"ws://{shared_broker.bound()['http']}/stomp"))
    shutil.copy(STOMPJS, root / STOMPJS.name)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()
    server.server_close()


def _cli_produce(broker: BrokerProcess, topic: str, lines: list[str]) -> None:
    subprocess.run([LOGD, "produce", topic, "-b", broker.address],
                   input="\n".join(lines) + "\n", text=True, check=True, timeout=60,
                   capture_output=True)  # fmt: skip


def _chromium(p: Any) -> Any:
    return p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])


def test_the_readmes_page_tails_demo(shared_broker: BrokerProcess, page_url: str) -> None:
    create_topic(shared_broker, "demo", 1)
    _cli_produce(shared_broker, "demo", ["a", "b", "c"])
    with sync_playwright() as p:
        browser = _chromium(p)
        try:
            page = browser.new_page()
            page.goto(page_url.replace("index.html", "readme.html"))
            page.wait_for_function(
                "document.getElementById('out').textContent.split('\\n').length > 3",
                timeout=30_000,
            )
            lines = page.locator("#out").text_content().splitlines()
            assert [line.split(" ", 1)[1] for line in lines] == ["a", "b", "c"]
        finally:
            browser.close()


def test_a_browser_tails_a_topic_from_an_offset_and_publishes(
    shared_broker: BrokerProcess, page_url: str
) -> None:
    create_topic(shared_broker, "browser", 1)
    lines = [f"line {i}" for i in range(4)]
    _cli_produce(shared_broker, "browser", lines)
    with Consumer(brokers=shared_broker.address) as consumer:
        consumer.assign([TopicPartition("browser", 0, 0)])
        offsets = [r.offset for r in consumer.consume(4, timeout=20)]
    ws = f"ws://{shared_broker.bound()['http']}/stomp"
    with sync_playwright() as p:
        browser = _chromium(p)
        try:
            page = browser.new_page()
            page.goto(f"{page_url}?ws={ws}&topic=browser&from={offsets[1]}")
            page.wait_for_function("document.querySelectorAll('#out li').length >= 3",
                                   timeout=30_000)  # fmt: skip
            got = page.locator("#out li").all_text_contents()
            assert got == [f"{o} {line}" for o, line in zip(offsets[1:], lines[1:], strict=True)]
            page.evaluate("""() => new Promise((done) => {
                window.stomp.watchForReceipt("sent", done);
                window.stomp.publish({ destination: "/topic/browser", body: "from the page",
                                       headers: { key: "b1", receipt: "sent" } });
            })""")  # fmt: skip
            page.wait_for_function("document.querySelectorAll('#out li').length >= 4",
                                   timeout=30_000)  # fmt: skip
            assert page.locator("#out li").last.text_content().endswith("from the page")
            assert not page.title().startswith("ERROR")
        finally:
            browser.close()
    with Consumer(brokers=shared_broker.address) as consumer:
        consumer.assign([TopicPartition("browser", 0, offsets[-1] + 1)])
        (record,) = consumer.consume(1, timeout=20)
    assert (record.key, record.value) == (b"b1", b"from the page")
