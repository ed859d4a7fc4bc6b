"""A small synchronous client of the registry's REST API, with the caches serializers need.

Standard library HTTP (``urllib``): the serializers run in producer callbacks and CLI
commands, where one blocking request per new schema is what confluent-kafka does too.
Schemas by id never change, so that cache never expires; ids by (subject, schema) neither.
Thread-safe: caches are plain dicts written under a lock.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from logd.errors import LogdError

__all__ = ["RegisteredSchema", "RegistryClient", "RegistryClientError"]

_CT = "application/vnd.schemaregistry.v1+json"
_SUBJECT_SOFT_DELETED = 40404


class RegistryClientError(LogdError):
    """The registry refused a request: ``http_status`` and Confluent's ``error_code``."""

    def __init__(self, http_status: int, error_code: int, message: str) -> None:
        where = f" (HTTP {http_status}, error code {error_code})" if http_status else ""
        super().__init__(message + where)
        self.http_status = http_status
        self.error_code = error_code


RegisteredSchema = dict[str, Any]  # {subject, version, id, schema, schemaType?, references?}


class RegistryClient:
    """Talks to one registry URL (any broker's: writes are forwarded to the writer)."""

    def __init__(
        self, url: str, *, username: str | None = None, password: str | None = None,
        timeout_s: float = 30.0, ssl_ca_location: str | None = None,
        ssl_certificate_location: str | None = None, ssl_key_location: str | None = None,
    ) -> None:  # fmt: skip
        """``username``/``password``: HTTP Basic (the broker's SASL users); the ``ssl_*``
        settings (confluent-kafka's names) for an ``https://`` registry: the CA that
        verifies it (default: the system's) and a client certificate for mTLS."""
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._ssl: ssl.SSLContext | None = None
        if self.url.startswith("https://"):
            self._ssl = ssl.create_default_context(cafile=ssl_ca_location)
            if ssl_certificate_location is not None:
                self._ssl.load_cert_chain(ssl_certificate_location, ssl_key_location)
        self._auth = None
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._auth = f"Basic {token}"
        self._lock = threading.Lock()
        self._by_id: dict[int, dict[str, Any]] = {}
        self._ids: dict[tuple[str, str, str], int] = {}

    def request(self, method: str, path: str, body: object = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", _CT)
        if data is not None:
            req.add_header("Content-Type", _CT)
        if self._auth:
            req.add_header("Authorization", self._auth)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s, context=self._ssl) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise _error(exc.code, exc.read()) from None
        except (urllib.error.URLError, OSError) as exc:
            raise RegistryClientError(
                0, -1, f"cannot reach the registry at {self.url}: {exc}"
            ) from None

    def register(
        self,
        subject: str,
        schema: str,
        schema_type: str = "AVRO",
        *,
        normalize: bool = False,
        references: Sequence[Mapping[str, Any]] = (),
    ) -> int:
        """The schema's id under ``subject`` (registered when new); ``references``:
        ``{"name", "subject", "version"}`` each."""
        key = (subject, schema_type, schema + json.dumps(list(references), sort_keys=True))
        with self._lock:
            if key in self._ids:
                return self._ids[key]
        body = _schema_body(schema, schema_type, references)
        path = f"/subjects/{_q(subject)}/versions?normalize={str(normalize).lower()}"
        schema_id = int(self.request("POST", path, body)["id"])
        with self._lock:
            self._ids[key] = schema_id
        return schema_id

    def lookup(
        self,
        subject: str,
        schema: str,
        schema_type: str = "AVRO",
        references: Sequence[Mapping[str, Any]] = (),
    ) -> RegisteredSchema:
        body = _schema_body(schema, schema_type, references)
        found: RegisteredSchema = self.request("POST", f"/subjects/{_q(subject)}", body)
        return found

    def schema(self, schema_id: int) -> dict[str, Any]:
        """``{"schema": text, "schemaType": …}`` by id (cached forever: ids are immutable)."""
        with self._lock:
            cached = self._by_id.get(schema_id)
        if cached is None:
            cached = self.request("GET", f"/schemas/ids/{schema_id}")
            with self._lock:
                self._by_id[schema_id] = cached
        return cached

    def latest(self, subject: str) -> RegisteredSchema:
        return self.version(subject, "latest")

    def version(self, subject: str, version: int | str) -> RegisteredSchema:
        found: RegisteredSchema = self.request(
            "GET", f"/subjects/{_q(subject)}/versions/{_q(str(version))}"
        )
        return found

    def subjects(self, *, prefix: str = "", deleted: bool = False) -> list[str]:
        query = urllib.parse.urlencode({"subjectPrefix": prefix, "deleted": str(deleted).lower()})
        return [str(s) for s in self.request("GET", f"/subjects?{query}")]

    def versions(self, subject: str, *, deleted: bool = False) -> list[int]:
        path = f"/subjects/{_q(subject)}/versions?deleted={str(deleted).lower()}"
        return [int(v) for v in self.request("GET", path)]

    def delete_subject(self, subject: str, *, permanent: bool = False) -> list[int]:
        """The versions deleted. Permanent: soft-deletes first when needed (the registry
        hard-deletes only what was soft-deleted, as Confluent's does)."""
        if permanent:
            try:
                self.request("DELETE", f"/subjects/{_q(subject)}")
            except RegistryClientError as exc:
                if exc.error_code != _SUBJECT_SOFT_DELETED:
                    raise
        path = f"/subjects/{_q(subject)}?permanent={str(permanent).lower()}"
        return [int(v) for v in self.request("DELETE", path)]

    def compatibility(self, subject: str | None = None) -> str:
        """The level that applies: the subject's own, else the global one."""
        path = "/config" if subject is None else f"/config/{_q(subject)}?defaultToGlobal=true"
        return str(self.request("GET", path)["compatibilityLevel"])

    def set_compatibility(self, level: str, subject: str | None = None) -> str:
        path = "/config" if subject is None else f"/config/{_q(subject)}"
        return str(self.request("PUT", path, {"compatibility": level})["compatibility"])


def _schema_body(
    schema: str, schema_type: str, references: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    body: dict[str, Any] = {"schema": schema}
    if schema_type != "AVRO":
        body["schemaType"] = schema_type
    if references:
        body["references"] = [dict(r) for r in references]
    return body


def _q(subject: str) -> str:
    return urllib.parse.quote(subject, safe="")


def _error(status: int, raw: bytes) -> RegistryClientError:
    try:
        body = json.loads(raw)
        return RegistryClientError(status, int(body["error_code"]), str(body["message"]))
    except (ValueError, KeyError, TypeError):
        return RegistryClientError(status, -1, raw[:200].decode(errors="replace"))
