"""The web console in a real browser (Debian's headless Chromium through Playwright) against
a real broker: create a topic in the page, produce to it with the ``logd`` command, find
the record by its key in the message browser, see a consumer group's lag, reset the group's
offsets (dry run first), watch the live tail, see a registered schema and a record framed
with its id shown decoded. A screenshot of each page is kept in the
test's directory (``screenshots/``; the path is printed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from confluent_kafka import Producer

from tests.helpers import wait_until
from tests.integration.admin.browser import chromium_page
from tests.integration.admin.support import (
    PROTO_SCHEMA,
    READING,
    admin_url,
    framed,
    logd,
    register,
)
from tests.integration.cluster import BrokerProcess

pytestmark = pytest.mark.integration

TOPIC = "console-demo"
GROUP = "console-group"


def _ok(result) -> str:  # type: ignore[no-untyped-def]
    assert result.returncode == 0, result.stderr.decode()
    return str(result.stdout.decode())


def test_the_console_creates_browses_shows_lag_and_resets(
    broker: BrokerProcess, tmp_path: Path
) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    base = admin_url(broker)
    with chromium_page() as page:
        page.goto(base)
        page.get_by_test_id("health").filter(has_text="healthy").wait_for()
        page.screenshot(path=str(shots / "1-overview.png"), full_page=True)

        # Create a topic in the page.
        page.goto(base + "#/topics")
        page.get_by_test_id("new-topic-name").fill(TOPIC)
        page.locator("input[name=partitions]").fill("1")
        page.get_by_test_id("create-topic").click()
        page.locator("h1", has_text=f"Topic {TOPIC}").wait_for()
        page.screenshot(path=str(shots / "2-topic.png"), full_page=True)

        # Produce from the CLI; find one record by its key in the message browser.
        lines = "".join(f'k{i}\t{{"n": {i}, "name": "item {i}"}}\n' for i in range(20))
        _ok(logd(broker, "produce", TOPIC, "--key-separator", "\t", "-H", "source=cli",
                 stdin=lines.encode()))  # fmt: skip
        page.goto(f"{base}#/messages/{TOPIC}?from=oldest&key=k7")
        table = page.get_by_test_id("messages-table")
        table.locator("tbody tr").first.wait_for()
        rows = table.locator("tbody tr")
        assert rows.count() == 1
        assert rows.first.get_by_test_id("record-key").inner_text() == "k7"
        assert json.loads(rows.first.get_by_test_id("record-value").inner_text()) == {
            "n": 7, "name": "item 7",
        }  # fmt: skip
        page.screenshot(path=str(shots / "3-messages.png"), full_page=True)

        # A group that read 10 of the 20 records: its lag is 10.
        _ok(logd(broker, "consume", TOPIC, "-o", "start", "-n", "10", "-g", GROUP))
        page.goto(base + "#/groups")
        row = page.locator(f"tr[data-group='{GROUP}']")
        row.wait_for()
        assert row.get_by_test_id("group-lag").inner_text() == "10"
        page.goto(f"{base}#/group/{GROUP}")
        assert page.get_by_test_id("group-total-lag").inner_text() == "10"
        page.screenshot(path=str(shots / "4-group.png"), full_page=True)

        # Reset it to the end: the dry run shows the plan, Apply commits it.
        page.get_by_test_id("reset-to").select_option("end")
        page.get_by_test_id("reset-dry-run").click()
        plan = page.get_by_test_id("reset-plan")
        plan.wait_for()
        current, new = (int(c) for c in plan.locator("tbody tr td").all_inner_texts()[2:4])
        assert new - current == 10
        page.screenshot(path=str(shots / "5-reset-dry-run.png"), full_page=True)
        page.get_by_test_id("reset-apply").click()
        page.get_by_test_id("group-total-lag").filter(has_text="0").wait_for()
        described = json.loads(_ok(logd(broker, "group", "describe", GROUP, "--format", "json")))
        assert described[0]["total_lag"] == 0  # the CLI sees the committed reset too

        # The live tail shows a record produced after it started.
        page.goto(f"{base}#/tail/{TOPIC}")
        page.get_by_text("tailing partition 0").wait_for()
        _ok(logd(broker, "produce", TOPIC, "-k", "late", stdin=b'{"late": true}\n'))
        page.get_by_test_id("tail-table").get_by_text("late", exact=True).first.wait_for()
        page.screenshot(path=str(shots / "6-tail.png"), full_page=True)

        page.goto(base + "#/security")
        page.locator("h1", has_text="Users and ACLs").wait_for()
        page.screenshot(path=str(shots / "7-security.png"), full_page=True)

        # An Avro schema registered on the registry listener, a record produced with it by
        # the CLI: the subject listed, the record's value shown decoded through the registry.
        schema = {"type": "record", "name": "Item", "fields": [{"name": "n", "type": "long"}]}
        schema_id = register(broker, f"{TOPIC}-value", schema)
        registry = f"http://{broker.listeners['registry']}"
        _ok(logd(broker, "produce", TOPIC, "-k", "framed", "--value-schema", str(schema_id),
                 "--registry-url", registry, stdin=b'{"n": 42}\n'))  # fmt: skip
        page.goto(base + "#/schemas")
        page.get_by_test_id("subjects-table").get_by_text(f"{TOPIC}-value").wait_for()
        assert "null" not in page.locator("main").inner_text()
        page.screenshot(path=str(shots / "8-schemas.png"), full_page=True)
        page.get_by_role("link", name=f"{TOPIC}-value").click()
        assert json.loads(page.get_by_test_id("schema-text").first.inner_text()) == schema
        page.screenshot(path=str(shots / "8b-subject.png"), full_page=True)
        page.goto(f"{base}#/messages/{TOPIC}?from=newest&key=framed")
        tag = page.get_by_test_id("schema-tag")
        tag.wait_for()
        assert tag.inner_text() == f"avro · schema {schema_id}"
        value = page.get_by_test_id("record-value").first.locator("pre").inner_text()
        assert json.loads(value) == {"n": 42}
        page.screenshot(path=str(shots / "9-decoded.png"), full_page=True)

        # A Protobuf schema and a record framed with it (through the Kafka listener): its
        # value shown as Protobuf's JSON mapping, through the schema's own descriptors.
        proto_id = register(broker, f"{TOPIC}-readings", PROTO_SCHEMA, "PROTOBUF")
        producer = Producer({"bootstrap.servers": broker.bound()["kafka"]})
        producer.produce(TOPIC, key=b"proto", value=framed(proto_id, READING))
        assert producer.flush(30) == 0
        page.goto(f"{base}#/messages/{TOPIC}?from=newest&key=proto")
        tag = page.get_by_test_id("schema-tag").filter(has_text="protobuf")
        tag.wait_for()
        assert tag.inner_text() == f"protobuf · schema {proto_id}"
        value = page.get_by_test_id("record-value").first.locator("pre").inner_text()
        assert json.loads(value) == {"device": "d-7", "millis": "42", "values": [21.5]}
        page.screenshot(path=str(shots / "9b-protobuf.png"), full_page=True)
    wait_until(lambda: len(list(shots.glob("*.png"))) == 11, 5, message="screenshots")
    print(f"\nconsole screenshots: {shots}")
