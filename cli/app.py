"""The one object every verb gets: output for people and scripts, aborting, confirming.

Verbs never print tracebacks and never call ``sys.exit``: they return an exit code or raise
:class:`CliError` (through :meth:`App.abort`), and ``cli.main`` turns that into one line on
stderr (STYLE.md 15; pip's ``base_command._run_wrapper`` is the model).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn, TextIO

from cli import status

__all__ = ["App", "CliError"]

DEFAULT_BROKERS = "127.0.0.1:7070"


class CliError(Exception):
    """A failure to report as one line on stderr, with the exit code to leave with."""

    def __init__(self, message: str, code: int = status.ERROR) -> None:
        super().__init__(message)
        self.code = code


class App:
    """Output and interaction for one command run. Not thread-safe; owned by the verb."""

    def __init__(
        self,
        *,
        brokers: str | None = None,
        output_format: str = "text",
        yes: bool = False,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        stdin: TextIO | None = None,
        security: dict[str, str | None] | None = None,
    ) -> None:
        self.brokers = brokers or os.environ.get("LOGD_BROKERS") or DEFAULT_BROKERS
        self.client_security = client_security(security or {})
        self.output_format = output_format
        self.yes = yes
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.stdin = stdin or sys.stdin

    @property
    def broker_list(self) -> list[str]:
        return [b.strip() for b in self.brokers.split(",") if b.strip()]

    # -- output ---------------------------------------------------------------------------

    def print(self, text: str = "") -> None:
        self.stdout.write(text + "\n")

    def info(self, text: str) -> None:
        """A line for people that must not mix with data on stdout."""
        self.stderr.write(text + "\n")
        self.stderr.flush()

    def json(self, obj: Any) -> None:
        self.stdout.write(json.dumps(obj, sort_keys=False) + "\n")

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """UPPERCASE headers, columns aligned by spaces, no borders (as rpk prints)."""
        cells = [[str(h).upper() for h in headers]]
        cells.extend([_cell(v) for v in row] for row in rows)
        widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
        for row in cells:
            line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
            self.stdout.write(line.rstrip() + "\n")

    def emit(self, obj: Any, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """``obj`` as JSON with ``--format json``, else the table."""
        if self.output_format == "json":
            self.json(obj)
        else:
            self.table(headers, rows)

    # -- control --------------------------------------------------------------------------

    def abort(self, message: str, code: int = status.ERROR) -> NoReturn:
        raise CliError(message, code)

    def confirm(self, question: str) -> None:
        """Ask before a destructive step; ``--yes`` answers for the user.

        Without a terminal to ask on, refuse rather than guess.
        """
        if self.yes:
            return
        if not self.stdin.isatty():
            self.abort(f"{question} — refusing without a terminal; pass --yes to confirm")
        self.stderr.write(f"{question} [y/N] ")
        self.stderr.flush()
        answer = self.stdin.readline().strip().lower()
        if answer not in {"y", "yes"}:
            self.abort("aborted: nothing was changed")


#: --flag -> (environment variable, logd client setting)
SECURITY_FLAGS = {
    "user": ("LOGD_USER", "sasl_username"),
    "password": ("LOGD_PASSWORD", "sasl_password"),
    "tls_ca": ("LOGD_TLS_CA", "ssl_ca_location"),
    "tls_cert": ("LOGD_TLS_CERT", "ssl_certificate_location"),
    "tls_key": ("LOGD_TLS_KEY", "ssl_key_location"),
}


def client_security(flags: dict[str, str | None]) -> dict[str, Any]:
    """The logd client's security settings (confluent-kafka's names) from ``--user``,
    ``--password``, ``--tls-ca``, ``--tls-cert``, ``--tls-key`` and ``--tls``, each flag
    falling back to its environment variable (``LOGD_USER`` …)."""
    out: dict[str, Any] = {}
    for flag, (env, setting) in SECURITY_FLAGS.items():
        value = flags.get(flag) or os.environ.get(env)
        if value:
            out[setting] = value
    tls = bool(flags.get("tls")) or os.environ.get("LOGD_TLS", "") in ("1", "true")
    tls = tls or any(k.startswith("ssl_") for k in out)
    sasl = "sasl_username" in out
    if sasl:
        out.setdefault("sasl_password", "")
    out["security_protocol"] = {
        (False, False): "PLAINTEXT",
        (False, True): "SSL",
        (True, False): "SASL_PLAINTEXT",
        (True, True): "SASL_SSL",
    }[(sasl, tls)]
    return out


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple | set):
        return ",".join(str(v) for v in value) if value else "-"
    return str(value)
