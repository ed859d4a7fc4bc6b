"""The registry fixture (tests/frontends/registry/harness.py)."""

from tests.frontends.registry.harness import registry

__all__ = ["registry"]
