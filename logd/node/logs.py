"""The broker's log lines on stderr: ``--log-format text`` (the default, for people) or
``json`` (one object a line, for log shippers: Loki, Elasticsearch, CloudWatch …).

A significant event is logged once, at the place that knows it, with ``extra={"event":
NAME, ...fields}``: ``leader_elected`` (``logd.cluster.replicated``), ``partition_moved``
(``logd.broker.replicas``), ``fsync_slow`` (``logd.storage.flusher``),
``authentication_failed`` (``logd.broker.security.seam_part``). In text those fields are
already in the message; in JSON they are keys of the object beside ``ts`` (RFC 3339, UTC,
milliseconds), ``level``, ``logger`` and ``msg`` (the formatted message), and ``exc``
(the traceback, for a bug) when there is one.

Standard library only (``logging.Formatter``); configured once per process by
:func:`configure`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Final

__all__ = ["FORMATS", "JsonFormatter", "configure"]

FORMATS: Final = ("text", "json")
_TEXT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: What every LogRecord has; anything else on a record came through ``extra``.
_STANDARD: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        seconds = time.gmtime(record.created)
        millis = int(record.msecs)
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", seconds) + f".{millis:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class _OneLineBadRequests(logging.Filter):
    """aiohttp (the HTTP listeners: REST proxy, registry, admin, MQTT over WebSocket) logs a
    malformed request (a bad method or request line, a bad header, a bad chunk) on
    ``aiohttp.server`` at ERROR with its traceback; a client's mistake is one INFO line
    (bad input never gives a traceback). Anything else aiohttp logs (a bug of ours escaping
    a handler) keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        # Looked up, not imported: a broker whose HTTP listeners are all off never loads
        # aiohttp (and then no record carries one of its errors).
        http_exceptions = sys.modules.get("aiohttp.http_exceptions")
        bad_request = getattr(http_exceptions, "HttpProcessingError", None)
        if bad_request is not None and isinstance(error, bad_request):
            why = " ".join(p.strip() for p in str(error).splitlines() if p.strip())
            record.msg = f"bad HTTP request: {(why or type(error).__name__)[:200]}"
            record.args, record.exc_info, record.exc_text = None, None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


_BAD_REQUESTS: Final = _OneLineBadRequests()


def configure(level: str, log_format: str = "text") -> None:
    """Log ``level`` and above to stderr in ``log_format`` (``text`` or ``json``)."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(_TEXT)
    handler.setFormatter(formatter)
    logging.basicConfig(level=getattr(logging, level), handlers=[handler], force=True)
    logging.getLogger("aiohttp.server").addFilter(_BAD_REQUESTS)
