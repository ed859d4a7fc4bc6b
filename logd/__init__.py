"""logd: a Kafka-style append-only, partitioned and replicated commit log."""

__all__ = ["__version__"]

__version__ = "0.1.0"
