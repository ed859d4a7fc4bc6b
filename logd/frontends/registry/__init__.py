"""The schema registry front end: Confluent's Schema Registry REST API on aiohttp (issue 17).

Reads are answered from this broker's applied copy of `_schemas`; writes are planned by the
one writer (the leader of `_schemas`) and forwarded there from the other brokers.
"""

from logd.frontends.registry.server import RegistryFrontEnd, build_app

__all__ = ["RegistryFrontEnd", "build_app"]
