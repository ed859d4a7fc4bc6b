"""The API table: every Kafka API this listener serves, one line each.

The ranges are what ApiVersions advertises; each maximum reaches at least the newest version
librdkafka 2.16 sends (docs/kafka.md has the table and why each range starts where it does).
Adding an API: one module under ``handlers/`` and one line here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from logd.frontends.kafka.apis import Api, api_table
from logd.frontends.kafka.handlers import api_versions

__all__ = ["API_TABLE"]

API_TABLE: Final[Mapping[int, Api]] = api_table(
    Api(18, "ApiVersions", 0, 4, api_versions.handle),
)
