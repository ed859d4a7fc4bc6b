"""REST Proxy v2 metadata routes: ``GET /topics``, ``GET /topics/{t}``,
``GET /topics/{t}/partitions[/{p}[/offsets]]``, ``GET /brokers``, and v3's
``GET /v3/clusters`` (where a v3 client learns the cluster id its produce URLs name).

Thin: parse, call the seam, shape the answer as Confluent's (field names and nesting of its
API reference). A topic the caller may not describe is "not found" in a listing and 403 when
named, as the seam decides.

Ownership: the broker's event loop.
"""

from __future__ import annotations

from aiohttp import web

from logd.broker.api import PartitionDescription, TopicDescription
from logd.frontends.http.context import caller, context
from logd.frontends.http.errors import from_logd, partition_not_found
from logd.frontends.http.plumbing import json_answer, path_int, reply

__all__ = ["add_topic_routes", "partition_json"]


def partition_json(p: PartitionDescription) -> dict[str, object]:
    return {
        "partition": p.partition,
        "leader": p.leader_id,
        "replicas": [
            {"broker": b, "leader": b == p.leader_id, "in_sync": b in p.isr} for b in p.replicas
        ],
    }


async def _describe(request: web.Request, topic: str) -> TopicDescription:
    ctx = context(request)
    (description,) = await ctx.seam.describe_topics([topic], caller=caller(request))
    if description.error is not None:
        raise from_logd(description.error, topic)
    return description


def _partition(description: TopicDescription, partition: int) -> PartitionDescription:
    for p in description.partitions:
        if p.partition == partition:
            return p
    raise partition_not_found(description.name, partition)


async def list_topics(request: web.Request) -> web.Response:
    listed = await context(request).seam.list_topics(caller=caller(request))
    return reply(request, sorted(t.name for t in listed))


async def get_topic(request: web.Request) -> web.Response:
    description = await _describe(request, request.match_info["topic"])
    return reply(
        request,
        {
            "name": description.name,
            "configs": {c.name: c.value for c in description.configs},
            "partitions": [partition_json(p) for p in description.partitions],
        },
    )


async def list_partitions(request: web.Request) -> web.Response:
    description = await _describe(request, request.match_info["topic"])
    return reply(request, [partition_json(p) for p in description.partitions])


async def get_partition(request: web.Request) -> web.Response:
    partition = path_int(request.match_info["partition"], "partition")
    description = await _describe(request, request.match_info["topic"])
    return reply(request, partition_json(_partition(description, partition)))


async def partition_offsets(request: web.Request) -> web.Response:
    partition = path_int(request.match_info["partition"], "partition")
    description = await _describe(request, request.match_info["topic"])
    p = _partition(description, partition)
    return reply(request, {"beginning_offset": p.log_start_offset, "end_offset": p.high_watermark})


async def list_brokers(request: web.Request) -> web.Response:
    cluster = await context(request).seam.describe_cluster(caller=caller(request))
    return reply(request, {"brokers": sorted(b.node_id for b in cluster.brokers)})


async def list_clusters(request: web.Request) -> web.Response:
    cluster = await context(request).seam.describe_cluster(caller=caller(request))
    base = f"{request.scheme}://{request.host}/v3/clusters"
    return json_answer(
        {
            "kind": "KafkaClusterList",
            "metadata": {"self": base, "next": None},
            "data": [
                {
                    "kind": "KafkaCluster",
                    "metadata": {"self": f"{base}/{cluster.cluster_id}"},
                    "cluster_id": cluster.cluster_id,
                    "controller": {"related": f"{base}/{cluster.cluster_id}/brokers/"
                                   f"{cluster.controller_id}"},
                }
            ],
        },
        "application/json",
    )  # fmt: skip


def add_topic_routes(app: web.Application) -> None:
    app.router.add_get("/topics", list_topics)
    app.router.add_get("/topics/{topic}", get_topic)
    app.router.add_get("/topics/{topic}/partitions", list_partitions)
    app.router.add_get("/topics/{topic}/partitions/{partition}", get_partition)
    app.router.add_get("/topics/{topic}/partitions/{partition}/offsets", partition_offsets)
    app.router.add_get("/brokers", list_brokers)
    app.router.add_get("/v3/clusters", list_clusters)
