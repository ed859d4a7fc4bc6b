"""Front ends of the broker core: one package per protocol (docs/internals.md)."""

__all__: list[str] = []
