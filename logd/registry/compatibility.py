"""Compatibility levels over a subject's history (Confluent's semantics).

BACKWARD: the new schema reads data written with the previous one (the new one is the
reader); FORWARD: the previous one reads data written with the new one; FULL: both.  The
``_TRANSITIVE`` levels check against every live version instead of only the latest; NONE
checks nothing.  Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from logd.registry.model import CompatibilityLevel
from logd.registry.parsed import ParsedSchema

__all__ = ["check_compatibility"]


def check_compatibility(
    level: CompatibilityLevel, new: ParsedSchema, existing: Sequence[ParsedSchema]
) -> list[str]:
    """Why ``new`` may not follow ``existing`` (oldest first) at ``level``; [] if it may."""
    if level is CompatibilityLevel.NONE or not existing:
        return []
    against = existing if level.transitive else existing[-1:]
    problems: list[str] = []
    for old in reversed(against):
        if level.backward:
            problems.extend(f"backward: {p}" for p in new.incompatibilities(old))
        if level.forward:
            problems.extend(f"forward: {p}" for p in old.incompatibilities(new))
    return problems
