"""The registry's read routes: answered from this broker's applied copy, never forwarded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from aiohttp import web

from logd.frontends.registry.auth import allowed, readable
from logd.frontends.registry.http import flag, page, reply, version_param
from logd.frontends.registry.store import SchemaStore
from logd.registry.errors import (
    SchemaNotFoundError,
    SubjectNotFoundError,
)
from logd.registry.model import SchemaType
from logd.registry.state import RegistryState, SchemaEntry, VersionEntry

if TYPE_CHECKING:  # the Protobuf parser loads with the first Protobuf schema parsed
    from logd.registry.protobuf_schema import ProtobufSchema

__all__ = ["STORE", "add_read_routes", "schema_fields", "version_body"]

STORE: web.AppKey[SchemaStore] = web.AppKey("registry_store", SchemaStore)


def _state(request: web.Request) -> RegistryState:
    return request.app[STORE].state


def schema_fields(entry: SchemaEntry, text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"schema": entry.text if text is None else text}
    if entry.schema_type is not SchemaType.AVRO:
        out["schemaType"] = entry.schema_type.value
    if entry.references:
        out["references"] = [r.to_json() for r in entry.references]
    return out


def version_body(
    state: RegistryState, e: VersionEntry, request: web.Request | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"subject": e.subject, "version": e.version, "id": e.schema_id}
    entry = state.schemas[e.schema_id]
    body.update(schema_fields(entry, _text(request, state, entry)))
    return body


def _text(request: web.Request | None, state: RegistryState, entry: SchemaEntry) -> str:
    """The schema as asked: ``?format=serialized`` gives a Protobuf schema as the base64 of
    its ``FileDescriptorProto`` (what confluent-kafka's ProtobufDeserializer asks for);
    otherwise, and for the other types, the text as stored."""
    wanted = request.query.get("format", "") if request is not None else ""
    if wanted == "serialized" and entry.schema_type is SchemaType.PROTOBUF:
        return cast("ProtobufSchema", state.parsed(entry.schema_id)).serialized()
    return entry.text


def _schema_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError as exc:
        raise SchemaNotFoundError(f"Schema {request.match_info['id']} not found") from exc


async def root(request: web.Request) -> web.Response:
    return reply({})


async def schema_types(request: web.Request) -> web.Response:
    return reply([t.value for t in (SchemaType.JSON, SchemaType.PROTOBUF, SchemaType.AVRO)])


async def schemas_list(request: web.Request) -> web.Response:
    state = _state(request)
    prefix = request.query.get("subjectPrefix", "")
    deleted, latest_only = flag(request, "deleted"), flag(request, "latestOnly")
    out = []
    names = [n for n in state.subject_names(deleted=deleted) if n.startswith(prefix)]
    for subject in allowed(request, "registry_read", names):
        entries = state.versions(subject, deleted=deleted)
        for e in entries[-1:] if latest_only else entries:
            out.append(version_body(state, e))
    return reply(page(out, request))


async def schema_by_id(request: web.Request) -> web.Response:
    state = _state(request)
    entry = state.schema(_schema_id(request))
    _readable(request, state, entry.schema_id)
    subject = request.query.get("subject")
    if subject and not any(e.subject == subject for e in state.uses(entry.schema_id, deleted=True)):
        raise SchemaNotFoundError(f"Schema {entry.schema_id} not found under subject {subject!r}")
    body = schema_fields(entry, _text(request, state, entry))
    if entry.schema_type is SchemaType.AVRO:
        body["schemaType"] = "AVRO"  # Confluent names it here; some clients read it
    return reply(body)


async def schema_text_by_id(request: web.Request) -> web.Response:
    state = _state(request)
    entry = state.schema(_schema_id(request))
    _readable(request, state, entry.schema_id)
    return reply(_text(request, state, entry))


def _readable(request: web.Request, state: RegistryState, schema_id: int) -> None:
    readable(request, {e.subject for e in state.uses(schema_id, deleted=True)})


async def subjects_for_id(request: web.Request) -> web.Response:
    state = _state(request)
    sid = _schema_id(request)
    state.schema(sid)
    deleted = flag(request, "deleted")
    wanted = request.query.get("subject")
    names = sorted({e.subject for e in state.uses(sid, deleted=deleted)})
    names = allowed(request, "registry_list", [n for n in names if wanted in (None, n)])
    return reply(page(names, request))


async def versions_for_id(request: web.Request) -> web.Response:
    state = _state(request)
    sid = _schema_id(request)
    state.schema(sid)
    uses = state.uses(sid, deleted=flag(request, "deleted"))
    shown = set(allowed(request, "registry_list", {e.subject for e in uses}))
    versions = [{"subject": e.subject, "version": e.version} for e in uses if e.subject in shown]
    return reply(page(versions, request))


async def subjects(request: web.Request) -> web.Response:
    state = _state(request)
    prefix = request.query.get("subjectPrefix", request.query.get("prefix", ""))
    names = state.subject_names(
        deleted=flag(request, "deleted"), deleted_only=flag(request, "deleted_only")
    )
    shown = allowed(request, "registry_list", [n for n in names if n.startswith(prefix)])
    return reply(page(shown, request))


async def subject_versions(request: web.Request) -> web.Response:
    state = _state(request)
    entries = state.versions(request.match_info["subject"], deleted=flag(request, "deleted"))
    return reply(page([e.version for e in entries], request))


def _version(request: web.Request) -> tuple[RegistryState, VersionEntry]:
    state = _state(request)
    version = version_param(request.match_info["version"])
    subject = request.match_info["subject"]
    return state, state.version(subject, version, deleted=flag(request, "deleted"))


async def subject_version(request: web.Request) -> web.Response:
    state, entry = _version(request)
    return reply(version_body(state, entry, request))


async def subject_version_schema(request: web.Request) -> web.Response:
    state, entry = _version(request)
    return reply(_text(request, state, state.schemas[entry.schema_id]))


async def referenced_by(request: web.Request) -> web.Response:
    state, entry = _version(request)
    return reply(state.referenced_by(entry.subject, entry.version))


async def get_config(request: web.Request) -> web.Response:
    state = _state(request)
    subject = request.match_info.get("subject")
    if (
        subject is not None
        and subject not in state.configs
        and not flag(request, "defaultToGlobal")
    ):
        raise _NoSubjectConfig(
            f"Subject '{subject}' does not have subject-level compatibility configured"
        )
    return reply({"compatibilityLevel": state.compatibility(subject).value})


class _NoSubjectConfig(SubjectNotFoundError):
    error_code = 40408


async def get_mode(request: web.Request) -> web.Response:
    state = _state(request)
    subject = request.match_info.get("subject")
    if subject is not None and subject not in state.modes and not flag(request, "defaultToGlobal"):
        # Confluent answers the global mode for a subject without its own
        return reply({"mode": state.global_mode.value})
    return reply({"mode": state.mode(subject).value})


async def contexts(request: web.Request) -> web.Response:
    return reply(page(["."], request))


def add_read_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/", root)
    r.add_get("/schemas", schemas_list)
    r.add_get("/schemas/types", schema_types)
    r.add_get("/schemas/ids/{id}", schema_by_id)
    r.add_get("/schemas/ids/{id}/schema", schema_text_by_id)
    r.add_get("/schemas/ids/{id}/subjects", subjects_for_id)
    r.add_get("/schemas/ids/{id}/versions", versions_for_id)
    r.add_get("/subjects", subjects)
    r.add_get("/subjects/{subject}/versions", subject_versions)
    r.add_get("/subjects/{subject}/versions/{version}", subject_version)
    r.add_get("/subjects/{subject}/versions/{version}/schema", subject_version_schema)
    r.add_get("/subjects/{subject}/versions/{version}/referencedby", referenced_by)
    r.add_get("/config", get_config)
    r.add_get("/config/{subject}", get_config)
    r.add_get("/mode", get_mode)
    r.add_get("/mode/{subject}", get_mode)
    r.add_get("/contexts", contexts)
