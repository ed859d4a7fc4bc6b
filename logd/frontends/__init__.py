"""Front ends: each speaks one protocol to clients and reaches the broker core through its
front-end seam (docs/internals.md). One package per protocol."""

__all__: list[str] = []
