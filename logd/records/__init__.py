"""Kafka RecordBatch v2: a sans-I/O codec (STYLE.md 3)."""
