"""Kafka's ``ssl.principal.mapping.rules`` (KIP-371): from a client certificate's
distinguished name to the name in ``User:NAME``.

Syntax, as Kafka's SslPrincipalMapper reads it: a comma-separated list of
``RULE:pattern/replacement/`` (optionally ``/L`` or ``/U`` to lower- or upper-case the
result) and ``DEFAULT`` (the whole DN). The first rule whose pattern matches the *whole* DN
gives the name; none matching is an error. ``$1`` in a replacement is a group; a ``$N`` with
more digits than groups is cut down as Kafka does (``$12`` with one group is ``$1`` then
``2``); ``\\x`` is a literal ``x``.

The DN is the RFC 4514/2253 string (``CN=alice,OU=eng,O=corp``), as Java's
``X500Principal.getName()`` and cryptography's ``Name.rfc4514_string()`` both write it.
Python's ``re`` stands in for Java's regex: the two agree on the rules people write
(anchors, groups, classes, lazy quantifiers). Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from logd.errors import InvalidConfigError

__all__ = ["PrincipalMapper", "PrincipalMappingError"]

_RULE = r"(DEFAULT)|RULE:((\\.|[^\\/])*)/((\\.|[^\\/])*)/([LU]?).*?|(.*?)"
_SPLITTER = re.compile(r"\s*(" + _RULE + r")\s*(,\s*|$)")
_PARSER = re.compile(_RULE)
_BACKREF = re.compile(r"\$(\d+)")
_RULES_MAX = 4096


class PrincipalMappingError(InvalidConfigError):
    """No rule applies to a certificate's DN (the connection is refused)."""


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str] | None  # None: DEFAULT
    replacement: str = ""
    case: str = ""

    def apply(self, dn: str) -> str | None:
        if self.pattern is None:
            return dn
        if self.pattern.fullmatch(dn) is None:
            return None
        # Java's replaceAll over the whole DN: a pattern that can also match the empty
        # string at the end (``.*``) substitutes twice, in Java and in Python alike.
        result = self.pattern.sub(self.replacement, dn)
        if self.case == "L":
            return result.lower()
        if self.case == "U":
            return result.upper()
        return result


def _group_ref(digits: str, groups: int) -> str:
    """One ``$digits`` of a Java replacement as Kafka then Java read it: Kafka makes a
    reference to a missing group literal (after cutting digits, ``$12`` -> ``$1``); Java
    then takes the longest run of digits that still names a group."""
    if not digits.startswith("0"):
        index = int(digits)
        while index > groups and index >= 10:
            index //= 10
        if index > groups:
            return "$" + digits
    ref, used = int(digits[0]), 1
    while used < len(digits) and ref * 10 + int(digits[used]) <= groups:
        ref, used = ref * 10 + int(digits[used]), used + 1
    return f"\\g<{ref}>" + digits[used:]


def _python_replacement(java: str, groups: int) -> str:
    """Java's replacement syntax (``$N``, ``\\x``) as a Python ``re.sub`` template."""
    out: list[str] = []
    i = 0
    while i < len(java):
        ch = java[i]
        if ch == "\\" and i + 1 < len(java):
            out.append(java[i + 1].replace("\\", "\\\\"))
            i += 2
        elif ch == "$":
            match = _BACKREF.match(java, i)
            if match is None:
                raise InvalidConfigError(
                    f"ssl.principal.mapping.rules: '$' without a group number in {java!r}"
                )
            out.append(_group_ref(match.group(1), groups))
            i = match.end()
        else:
            out.append("\\\\" if ch == "\\" else ch)
            i += 1
    return "".join(out)


def _parse_rule(text: str) -> _Rule | None:
    match = _PARSER.match(text)
    if match is None or match.end() != len(text):
        raise InvalidConfigError(f"ssl.principal.mapping.rules: invalid rule {text!r}")
    if match.group(1) is not None:
        return _Rule(None)
    if match.group(2) is None:
        return None  # an empty rule is ignored
    try:
        pattern = re.compile(match.group(2))
    except re.error as exc:
        raise InvalidConfigError(f"ssl.principal.mapping.rules: bad pattern ({exc})") from exc
    replacement = _python_replacement(match.group(4), pattern.groups)
    return _Rule(pattern, replacement, match.group(6) or "")


class PrincipalMapper:
    """The parsed rules; ``name(dn)`` maps one DN. Immutable."""

    def __init__(self, rules: str = "DEFAULT") -> None:
        if len(rules) > _RULES_MAX:
            raise InvalidConfigError("ssl.principal.mapping.rules is too long")
        pieces = [m.group(1) for m in _SPLITTER.finditer(rules.strip())]
        self._rules = tuple(r for r in map(_parse_rule, pieces) if r is not None)

    def name(self, dn: str) -> str:
        for rule in self._rules:
            result = rule.apply(dn)
            if result is not None:
                return result
        raise PrincipalMappingError(f"no ssl.principal.mapping.rules rule applies to {dn!r}")
