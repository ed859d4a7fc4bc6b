"""The registry's write routes (and the two POSTs that only read: lookup and compatibility).

A write is planned and committed by the writer (:func:`forward.write`); here each route
parses its request and names the plan.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from logd.frontends.registry.forward import write
from logd.frontends.registry.http import flag, json_body, reply, version_param
from logd.frontends.registry.read_routes import STORE, version_body
from logd.registry.compatibility import check_compatibility
from logd.registry.errors import (
    InvalidSchemaError,
    SchemaNotFoundError,
    SubjectNotFoundError,
    UnprocessableEntityError,
)
from logd.registry.model import CompatibilityLevel, Mode
from logd.registry.parsed import ParsedSchema
from logd.registry.schemas import parse_references, parse_schema, parse_schema_type
from logd.registry.state import RegistryState
from logd.registry.writes import (
    Plan,
    plan_delete_config,
    plan_delete_mode,
    plan_delete_subject,
    plan_delete_version,
    plan_register,
    plan_set_config,
    plan_set_mode,
)

__all__ = ["add_write_routes"]


def _parse_body(body: dict[str, Any], state: RegistryState) -> ParsedSchema:
    text = body.get("schema")
    if not isinstance(text, str):
        raise InvalidSchemaError('Invalid schema: the request must carry a "schema" string')
    schema_type = parse_schema_type(body.get("schemaType"))
    refs = parse_references(body.get("references"))
    return parse_schema(schema_type, text, refs, state.lookup)


def _optional_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UnprocessableEntityError(f"{name} must be a positive integer")
    return value


async def register(request: web.Request) -> web.Response:
    store = request.app[STORE]
    subject = request.match_info["subject"]
    body = await json_body(request)
    _parse_body(body, store.state)  # invalid schemas fail here, before any forwarding
    normalize = flag(request, "normalize")
    schema_id, version = _optional_int(body, "id"), _optional_int(body, "version")

    def plan(state: RegistryState) -> Plan:
        parsed = _parse_body(body, state)
        return plan_register(
            state, subject, parsed, normalize=normalize, schema_id=schema_id, version=version
        )

    return await write(request, store, plan)


async def lookup(request: web.Request) -> web.Response:
    state = request.app[STORE].state
    subject = request.match_info["subject"]
    body = await json_body(request)
    deleted = flag(request, "deleted")
    if not state.subject_names(deleted=True) or subject not in state.subjects:
        raise SubjectNotFoundError(f"Subject '{subject}' not found.")
    parsed = _parse_body(body, state)
    sid = state.id_for(parsed)
    for entry in state.versions(subject, deleted=True):
        if entry.schema_id == sid and (deleted or not entry.deleted):
            return reply(version_body(state, entry))
    raise SchemaNotFoundError("Schema not found")


async def check(request: web.Request) -> web.Response:
    state = request.app[STORE].state
    subject = request.match_info["subject"]
    body = await json_body(request)
    parsed = _parse_body(body, state)
    level = state.compatibility(subject)
    text = request.match_info.get("version")
    try:
        live = state.versions(subject)
    except SubjectNotFoundError:
        if text is not None:
            raise
        live = []
    if text is not None:
        live = [state.version(subject, version_param(text))]
        if level.transitive:  # one named version: the level's direction, not its history
            level = CompatibilityLevel(level.value.removesuffix("_TRANSITIVE"))
    existing = [state.parsed(e.schema_id) for e in live]
    problems = check_compatibility(level, parsed, existing)
    answer: dict[str, Any] = {"is_compatible": not problems}
    if flag(request, "verbose"):
        answer["messages"] = problems
    return reply(answer)


async def delete_subject(request: web.Request) -> web.Response:
    store, subject = request.app[STORE], request.match_info["subject"]
    permanent = flag(request, "permanent")
    return await write(
        request, store, lambda s: plan_delete_subject(s, subject, permanent=permanent)
    )


async def delete_version(request: web.Request) -> web.Response:
    store, subject = request.app[STORE], request.match_info["subject"]
    version = version_param(request.match_info["version"])
    permanent = flag(request, "permanent")
    return await write(
        request, store, lambda s: plan_delete_version(s, subject, version, permanent=permanent)
    )


async def put_config(request: web.Request) -> web.Response:
    store, subject = request.app[STORE], request.match_info.get("subject")
    body = await json_body(request)
    level = CompatibilityLevel.parse(body.get("compatibility", body.get("compatibilityLevel")))
    return await write(request, store, lambda s: plan_set_config(s, subject, level))


async def delete_config(request: web.Request) -> web.Response:
    store, subject = request.app[STORE], request.match_info.get("subject")
    return await write(request, store, lambda s: plan_delete_config(s, subject))


async def put_mode(request: web.Request) -> web.Response:
    store, subject = request.app[STORE], request.match_info.get("subject")
    body = await json_body(request)
    mode = Mode.parse(body.get("mode"))
    force = flag(request, "force")
    return await write(request, store, lambda s: plan_set_mode(s, subject, mode, force=force))


async def delete_mode(request: web.Request) -> web.Response:
    store, subject = request.app[STORE], request.match_info["subject"]
    return await write(request, store, lambda s: plan_delete_mode(s, subject))


def add_write_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/subjects/{subject}/versions", register)
    r.add_post("/subjects/{subject}", lookup)
    r.add_delete("/subjects/{subject}", delete_subject)
    r.add_delete("/subjects/{subject}/versions/{version}", delete_version)
    r.add_post("/compatibility/subjects/{subject}/versions", check)
    r.add_post("/compatibility/subjects/{subject}/versions/{version}", check)
    r.add_put("/config", put_config)
    r.add_put("/config/{subject}", put_config)
    r.add_delete("/config", delete_config)
    r.add_delete("/config/{subject}", delete_config)
    r.add_put("/mode", put_mode)
    r.add_put("/mode/{subject}", put_mode)
    r.add_delete("/mode/{subject}", delete_mode)
