"""REST Proxy v2 consumer instances, run on the seam's group calls (docs/http.md)."""

__all__: list[str] = []
