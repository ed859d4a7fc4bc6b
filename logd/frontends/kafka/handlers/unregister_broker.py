"""UnregisterBroker (key 64, v0): remove a decommissioned, stopped broker from the cluster
for good (issue 23; Kafka's ``kafka-cluster unregister``), on the seam's
``unregister_broker``. ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED otherwise); an
unknown id is BROKER_ID_NOT_REGISTERED, as Kafka answers. Unlike Kafka, logd refuses
(INVALID_REQUEST, with the reason) while the broker is alive, not decommissioned, still
hosts a replica or is a controller voter: nothing it holds may be lost with it.

Ownership: stateless; one call per request on the listener's event loop.
"""

from __future__ import annotations

from typing import Any

from logd.errors import LogdError
from logd.frontends.kafka.apis import RequestContext
from logd.frontends.kafka.wire import error_code, error_message

__all__ = ["handle"]


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    error: LogdError | None = None
    try:
        await ctx.server.broker.unregister_broker(int(request.broker_id), caller=ctx.caller)
    except LogdError as exc:
        error = exc
    return {
        "throttle_time": 0,
        "error_code": error_code(error),
        "error_message": error_message(error),
    }
