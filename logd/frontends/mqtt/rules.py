"""Rules that map MQTT topics to logd topics, keys and headers — and back, for subscribers.

Pure. A rule set is an ordered list; the first rule whose pattern matches a PUBLISH's topic
decides where it goes (Strimzi's bridge and Zilla's mappings work the same way). A pattern
is an MQTT filter whose levels may also be named captures, ``{name}`` (one non-empty
level): ``building/{b}/room/{r}/#``. A rule's ``topic``, ``key`` and ``headers`` are
templates over its captures: ``topic = "building_{b}"``, ``key = "{r}"``. A publish no rule
matches goes to ``default_topic`` (refused when there is none). Every record also carries
the MQTT topic as header ``mqtt-topic`` (added by the caller, with 5.0 user properties).

The TOML form (``--mqtt-rules FILE``, reloaded when the file changes)::

    default_topic = "mqtt"              # optional; "" refuses what no rule matches
    max_payload_bytes = 1048576         # optional; the default limit of every rule

    [[rules]]
    mqtt = "building/{b}/room/{r}/#"
    topic = "building_{b}"
    key = "{r}"                         # optional: no key when absent
    headers = { building = "{b}" }      # optional
    max_payload_bytes = 65536           # optional

Without a file, :data:`DEFAULT_RULES` apply: ``{topic}/{key}/#`` and ``{topic}`` — the first
level names the logd topic, the second the key (``sensors/dev-7/temp`` goes to topic
``sensors`` keyed ``dev-7``), and ``mqtt`` takes the rest.

The reverse direction (subscriptions): :meth:`RuleSet.sources` names the logd topics whose
records can match a subscriber's filter (a rule whose pattern can match a topic the filter
matches contributes its topic template, with the captures the filter fixes), and
:meth:`RuleSet.mqtt_topic` gives the MQTT topic of a record that carries no ``mqtt-topic``
header (one produced by ``logd produce``, say): the first rule whose templates can produce
the record's topic and key, with its pattern's captures filled in (``#`` as no level); a
pattern with ``+`` cannot be filled in and is skipped.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from logd.errors import InvalidConfigError
from logd.frontends.mqtt.errors import MqttError
from logd.frontends.mqtt.reasons import ReasonCode
from logd.frontends.mqtt.topics import TopicFilter, parse_filter

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "DEFAULT_RULES",
    "Mapped",
    "Rule",
    "RuleSet",
    "parse_rules",
]

DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024  # Kafka's max.message.bytes is of the same order
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PLACEHOLDER = re.compile(r"\{(" + _NAME + r")\}")
_CAPTURE_LEVEL = re.compile(r"^\{(" + _NAME + r")\}$")
_LOGD_TOPIC = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")


@dataclass(frozen=True, slots=True)
class Template:
    """A string with ``{capture}`` placeholders; ``parts`` alternate literal text and
    capture names (literal first), so filling it is one join."""

    text: str
    names: tuple[str, ...]
    parts: tuple[str, ...]

    def fill(self, captures: Mapping[str, str]) -> str:
        parts = self.parts
        if len(parts) == 1:
            return parts[0]
        return "".join(p if i % 2 == 0 else captures[p] for i, p in enumerate(parts))

    def regex(self, fixed: Mapping[str, str]) -> re.Pattern[str]:
        """Matches what this template can produce; fixed captures as their value, the rest
        as named groups (a repeated capture must repeat its value)."""
        parts, seen, pos = [], set(), 0
        for m in _PLACEHOLDER.finditer(self.text):
            parts.append(re.escape(self.text[pos : m.start()]))
            name = m.group(1)
            if name in fixed:
                parts.append(re.escape(fixed[name]))
            elif name in seen:
                parts.append(f"(?P={name})")
            else:
                parts.append(f"(?P<{name}>[^/+#\\x00]+)")  # one MQTT topic level
                seen.add(name)
            pos = m.end()
        parts.append(re.escape(self.text[pos:]))
        return re.compile("".join(parts))


def _template(text: str, where: str) -> Template:
    stripped = _PLACEHOLDER.sub("", text)
    if "{" in stripped or "}" in stripped:
        raise InvalidConfigError(f"{where}: a brace that is not a {{capture}} in {text!r}")
    return Template(
        text,
        tuple(m.group(1) for m in _PLACEHOLDER.finditer(text)),
        tuple(_PLACEHOLDER.split(text)),  # re.split keeps the group: literal, name, literal …
    )


@dataclass(frozen=True, slots=True)
class Mapped:
    """Where one PUBLISH goes."""

    topic: str
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    max_payload_bytes: int


@dataclass(frozen=True, slots=True)
class Rule:
    pattern: str
    levels: tuple[str, ...]  # "+", "#", a literal, or "{name}"
    topic: Template
    key: Template | None
    headers: tuple[tuple[str, Template], ...]
    max_payload_bytes: int
    # The reverse direction: what the topic and key templates can produce (None: this
    # rule's pattern has a "+", which no record can fill in).
    topic_regex: re.Pattern[str] | None
    key_regex: re.Pattern[str] | None

    def reverse(self, topic: str, key: str | None) -> dict[str, str] | None:
        """The captures that make this rule produce ``topic`` and ``key``, else None."""
        if self.topic_regex is None:
            return None
        m = self.topic_regex.fullmatch(topic)
        if m is None:
            return None
        captures = m.groupdict()
        if self.key_regex is not None:
            k = None if key is None else self.key_regex.fullmatch(key)
            if k is None:
                return None
            for name, value in k.groupdict().items():
                if captures.setdefault(name, value) != value:
                    return None
        names = (lv[1:-1] for lv in self.levels if _CAPTURE_LEVEL.match(lv))
        return captures if all(n in captures for n in names) else None

    def captures(self, topic_levels: tuple[str, ...]) -> dict[str, str] | None:
        """The captures of a topic this rule's pattern matches, else None."""
        levels = self.levels
        out: dict[str, str] = {}
        if topic_levels[0][:1] == "$" and not _literal(levels[0]):
            return None  # [MQTT-4.7.2-1]: wildcards do not match "$" topics
        for i, level in enumerate(levels):
            if level == "#":
                return out
            if i >= len(topic_levels):
                return None
            value = topic_levels[i]
            if level == "+":
                continue
            capture = _CAPTURE_LEVEL.match(level)
            if capture is None:
                if level != value:
                    return None
            elif not value or out.setdefault(capture.group(1), value) != value:
                return None
        return out if len(topic_levels) == len(levels) else None

    def map(self, mqtt_topic: str, captures: Mapping[str, str]) -> Mapped:
        topic = self.topic.fill(captures)
        if not _LOGD_TOPIC.match(topic) or topic.startswith("__") or topic in (".", ".."):
            raise MqttError(
                ReasonCode.TOPIC_NAME_INVALID,
                f"MQTT topic {mqtt_topic!r} maps to {topic!r}, not a valid logd topic name",
            )
        key = None if self.key is None else self.key.fill(captures).encode("utf-8")
        headers = tuple((name, t.fill(captures).encode("utf-8")) for name, t in self.headers)
        return Mapped(topic, key, headers, self.max_payload_bytes)


def _literal(level: str) -> bool:
    return level not in ("+", "#") and _CAPTURE_LEVEL.match(level) is None


_CACHE_MAX = 65536  # MQTT topics whose mapping is remembered (devices repeat theirs)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    default_topic: str | None
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    _cache: dict[str, Mapped] = field(default_factory=dict, compare=False, repr=False)

    def map(self, mqtt_topic: str) -> Mapped:
        """Where a PUBLISH to ``mqtt_topic`` goes: the first matching rule, else the default
        topic; MqttError(TOPIC_NAME_INVALID) when neither applies. Remembered per topic
        (a rule set is immutable: a reload makes a new one, with an empty memory)."""
        mapped = self._cache.get(mqtt_topic)
        if mapped is None:
            mapped = self._map(mqtt_topic)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[mqtt_topic] = mapped
        return mapped

    def _map(self, mqtt_topic: str) -> Mapped:
        levels = tuple(mqtt_topic.split("/"))
        for rule in self.rules:
            captures = rule.captures(levels)
            if captures is not None:
                return rule.map(mqtt_topic, captures)
        if self.default_topic is None:
            raise MqttError(
                ReasonCode.TOPIC_NAME_INVALID,
                f"MQTT topic {mqtt_topic!r} matches no rule and there is no default topic",
            )
        return Mapped(self.default_topic, None, (), self.max_payload_bytes)

    def sources(self, topic_filter: TopicFilter, topics: Iterable[str]) -> set[str]:
        """The logd topics (of ``topics``, internal ones excluded) whose records can match
        ``topic_filter``."""
        patterns = []
        for rule in self.rules:
            fixed = _intersect(rule.levels, topic_filter.levels)
            if fixed is not None:
                patterns.append(rule.topic.regex(fixed))
        if self.default_topic is not None:
            patterns.append(re.compile(re.escape(self.default_topic)))
        return {
            t for t in topics if not t.startswith("__") and any(p.fullmatch(t) for p in patterns)
        }

    def mqtt_topic(self, topic: str, key: bytes | None) -> str | None:
        """The MQTT topic a record of ``topic`` keyed ``key`` reads as (no header): the
        first rule that can produce both, with its pattern filled in; else None."""
        text_key = _text(key)
        for rule in self.rules:
            captures = rule.reverse(topic, text_key)
            if captures is not None:
                return "/".join(_fill_level(lv, captures) for lv in rule.levels if lv != "#")
        return topic if topic == self.default_topic else None


def _fill_level(level: str, captures: Mapping[str, str]) -> str:
    m = _CAPTURE_LEVEL.match(level)
    return level if m is None else captures[m.group(1)]


def _text(key: bytes | None) -> str | None:
    if key is None:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _intersect(pattern: tuple[str, ...], filt: tuple[str, ...]) -> dict[str, str] | None:
    """Whether some topic matches both the rule's pattern and the filter; if so the
    captures the filter's literal levels fix."""
    fixed: dict[str, str] = {}
    for i in range(max(len(pattern), len(filt))):
        p = pattern[i] if i < len(pattern) else None
        f = filt[i] if i < len(filt) else None
        if p == "#" or f == "#":
            return fixed
        if p is None or f is None:
            return None
        capture = _CAPTURE_LEVEL.match(p)
        if f == "+" or p == "+":
            continue
        if capture is not None:
            if not f or fixed.setdefault(capture.group(1), f) != f:
                return None
        elif p != f:
            return None
    return fixed


# -- loading --------------------------------------------------------------------------------

_RULE_KEYS = frozenset({"mqtt", "topic", "key", "headers", "max_payload_bytes"})
_TOP_KEYS = frozenset({"rules", "default_topic", "max_payload_bytes"})


def _rule(raw: Any, where: str, default_limit: int) -> Rule:
    if not isinstance(raw, dict):
        raise InvalidConfigError(f"{where}: a rule is a table")
    unknown = raw.keys() - _RULE_KEYS
    if unknown:
        raise InvalidConfigError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
    for required in ("mqtt", "topic"):
        if not isinstance(raw.get(required), str):
            raise InvalidConfigError(f"{where}: {required!r} (a string) is required")
    pattern = raw["mqtt"]
    try:
        parse_filter(_PLACEHOLDER.sub("x", pattern))
    except MqttError as exc:
        raise InvalidConfigError(f"{where}: {exc}") from None
    levels = tuple(pattern.split("/"))
    captures = [m.group(1) for level in levels if (m := _CAPTURE_LEVEL.match(level))]
    if any("{" in lv and not _CAPTURE_LEVEL.match(lv) for lv in levels):
        raise InvalidConfigError(f"{where}: a capture must be a whole level: {pattern!r}")
    topic = _template(raw["topic"], where)
    key = _template(raw["key"], where) if raw.get("key") is not None else None
    headers_raw = raw.get("headers", {})
    if not isinstance(headers_raw, dict) or not all(
        isinstance(v, str) for v in headers_raw.values()
    ):
        raise InvalidConfigError(f"{where}: headers is a table of strings")
    headers = tuple((str(k), _template(v, where)) for k, v in headers_raw.items())
    for t in (topic, key, *(h for _, h in headers)):
        missing = set(t.names if t else ()) - set(captures)
        if missing:
            raise InvalidConfigError(f"{where}: no capture named {', '.join(sorted(missing))}")
    limit = _limit(raw.get("max_payload_bytes", default_limit), where)
    reversible = "+" not in levels
    return Rule(
        pattern,
        levels,
        topic,
        key,
        headers,
        limit,
        topic.regex({}) if reversible else None,
        key.regex({}) if reversible and key is not None else None,
    )


def _limit(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 268_435_455:
        raise InvalidConfigError(f"{where}: max_payload_bytes must be 0..268435455")
    return value


def parse_rules(text: str, source: str = "rules") -> RuleSet:
    """A rule set from TOML; InvalidConfigError naming the file and the rule."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidConfigError(f"{source}: {exc}") from None
    unknown = doc.keys() - _TOP_KEYS
    if unknown:
        raise InvalidConfigError(f"{source}: unknown setting(s) {', '.join(sorted(unknown))}")
    limit = _limit(doc.get("max_payload_bytes", DEFAULT_MAX_PAYLOAD_BYTES), source)
    raw_rules = doc.get("rules", [])
    if not isinstance(raw_rules, list):
        raise InvalidConfigError(f"{source}: rules is an array of tables ([[rules]])")
    rules = tuple(_rule(r, f"{source}: rule {i + 1}", limit) for i, r in enumerate(raw_rules))
    default = doc.get("default_topic", "mqtt")
    if not isinstance(default, str):
        raise InvalidConfigError(f"{source}: default_topic is a string")
    if default and not _LOGD_TOPIC.match(default):
        raise InvalidConfigError(f"{source}: default_topic {default!r} is not a topic name")
    return RuleSet(rules, default or None, limit)


DEFAULT_RULES = parse_rules(
    """
    [[rules]]
    mqtt = "{topic}/{key}/#"
    topic = "{topic}"
    key = "{key}"

    [[rules]]
    mqtt = "{topic}"
    topic = "{topic}"
    """,
    "default rules",
)
