"""The registry fixture (tests/frontends/registry/harness.py)."""

from tests.frontends.registry.harness import registry, registry_seam

__all__ = ["registry", "registry_seam"]
