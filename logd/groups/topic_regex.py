"""Topic regular expressions of KIP-848 subscriptions (``subscribed_topic_regex``).

Kafka evaluates them with RE2/J (linear time, no backtracking) and matches a whole topic
name (``Matcher.matches()``). logd evaluates them with Python's ``re`` -- a maintained
library already here; an RE2 binding would be a native dependency for one feature -- and
accepts only the common subset, where both engines agree:

* accepted: literals, ``.``, classes ``[...]`` and ``\\d \\w \\s`` (and negations),
  anchors ``^ $ \\b \\B \\A``, groups (capturing, ``(?:...)``, named ``(?P<n>...)``),
  alternation, quantifiers ``* + ? {m,n}`` and their lazy forms, inline flags such as
  ``(?i)``;
* refused with INVALID_REGULAR_EXPRESSION, because RE2 has no such thing: backreferences
  (``\\1``, ``(?P=n)``), lookahead/lookbehind, atomic groups, possessive quantifiers,
  conditionals;
* refused because Python would read them differently from RE2 (or not at all): POSIX
  classes ``[[:alpha:]]``, Unicode classes ``\\p{..}``/``\\pL``, ``\\z``, ``\\Q...\\E``,
  ``\\C``; and anything ``re`` cannot compile.

Patterns are compiled once (a bounded cache). Pure: no I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

__all__ = ["MAX_PATTERN_CHARS", "matching", "refusal"]

MAX_PATTERN_CHARS = 4096
"""A longer pattern is refused outright (bounds the compile work a member can ask for)."""

# Python's parser (``re._parser``, the engine's own) names each node; these have no RE2
# counterpart.
_RE2_LACKS = {
    "GROUPREF": "backreferences",
    "GROUPREF_EXISTS": "conditional groups",
    "ASSERT": "lookahead/lookbehind",
    "ASSERT_NOT": "lookahead/lookbehind",
    "ATOMIC_GROUP": "atomic groups",
    "POSSESSIVE_REPEAT": "possessive quantifiers",
}
_READ_DIFFERENTLY = (
    ("[:", "POSIX classes such as [[:alpha:]]"),
    ("\\p", "Unicode classes \\p{..}"),
    ("\\P", "Unicode classes \\P{..}"),
    ("\\Q", "\\Q...\\E quoting"),
    ("\\z", "\\z"),
    ("\\C", "\\C"),
)


def refusal(pattern: str) -> str | None:
    """Why ``pattern`` is refused (INVALID_REGULAR_EXPRESSION), or None when it is fine."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"a regular expression is at most {MAX_PATTERN_CHARS} characters"
    for text, what in _READ_DIFFERENTLY:
        if text in pattern:
            return f"{what} are not supported (RE2 syntax that Python's re reads differently)"
    try:
        parsed = re._parser.parse(pattern)  # type: ignore[attr-defined]
        _compiled(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"invalid regular expression {pattern!r}: {exc}"
    lacking = _lacking(parsed)
    if lacking is not None:
        return f"{lacking} are not supported (Kafka evaluates topic regexes with RE2)"
    return None


def matching(pattern: str, topics: Iterable[str]) -> tuple[str, ...]:
    """The topics whose whole name ``pattern`` matches (sorted). The pattern must have
    passed :func:`refusal`."""
    compiled = _compiled(pattern)
    return tuple(sorted(t for t in topics if compiled.fullmatch(t)))


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _lacking(parsed: object) -> str | None:
    """The first construct RE2 lacks in a parsed pattern (a walk of ``re._parser``'s
    nested (opcode, argument) lists)."""
    stack = [parsed]
    while stack:
        node = stack.pop()
        if isinstance(node, (list, tuple)) or type(node).__name__ == "SubPattern":
            items = list(node)  # type: ignore[call-overload]
            if len(items) == 2 and str(items[0]) in _RE2_LACKS:
                return _RE2_LACKS[str(items[0])]
            stack.extend(items)
    return None
