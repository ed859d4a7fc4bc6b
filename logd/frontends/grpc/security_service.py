"""The thin gRPC servicer of ``logd.v1.SecurityAdmin`` (users, ACLs, quotas, whoami).

Each method calls the seam's security half (which asks the guard, the one authorization
layer, with the action Kafka's own API would need) and builds the answer; errors are mapped by the
unary wrapper of ``handlers`` like every other service's.

Ownership: one instance per server, on the broker's event loop.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc

from logd.broker.seam import BrokerSeam
from logd.errors import InvalidRequestError, LogdError, UnsupportedSaslMechanismError
from logd.frontends.grpc.errors import error_proto
from logd.frontends.grpc.handlers import caller_of, service_handler, unary_unary
from logd.security.admin_types import QuotaAlteration, ScramDeletion, ScramUpsertion
from logd.security.scram import ScramMechanism
from logd.security.wire import (
    acl_from_proto,
    acl_to_proto,
    entity_from_proto,
    entity_to_proto,
    filter_from_proto,
)
from logd.v1 import common_pb2, security_pb2

__all__ = ["SECURITY_SERVICE", "SecurityService"]

SECURITY_SERVICE = security_pb2.DESCRIPTOR.services_by_name["SecurityAdmin"].full_name

_Ctx: TypeAlias = grpc.aio.ServicerContext


def _error(error: LogdError | None) -> common_pb2.Error:
    """An item's error; code NONE on success (a repeated field holds no None)."""
    return error_proto(error) or common_pb2.Error()


def _mechanism(number: int) -> ScramMechanism:
    try:
        return ScramMechanism(number)
    except ValueError:
        raise UnsupportedSaslMechanismError(f"unknown SCRAM mechanism {number}") from None


class SecurityService:
    def __init__(self, seam: BrokerSeam) -> None:
        self._security = seam.security
        self._telemetry = seam.telemetry

    def handler(self) -> grpc.GenericRpcHandler:
        p = security_pb2
        methods: dict[str, tuple[Any, Any]] = {
            "DescribeUsers": (self.describe_users, p.DescribeUsersRequest),
            "AlterUsers": (self.alter_users, p.AlterUsersRequest),
            "CreateAcls": (self.create_acls, p.CreateAclsRequest),
            "DescribeAcls": (self.describe_acls, p.DescribeAclsRequest),
            "DeleteAcls": (self.delete_acls, p.DeleteAclsRequest),
            "DescribeQuotas": (self.describe_quotas, p.DescribeQuotasRequest),
            "AlterQuotas": (self.alter_quotas, p.AlterQuotasRequest),
            "WhoAmI": (self.who_am_i, p.WhoAmIRequest),
        }
        return service_handler(
            SECURITY_SERVICE,
            {
                name: unary_unary(name, call, kind, self._telemetry)
                for name, (call, kind) in methods.items()
            },
        )

    async def describe_users(
        self, req: security_pb2.DescribeUsersRequest, context: _Ctx
    ) -> security_pb2.DescribeUsersResponse:
        users = self._security.describe_users(caller_of(context), list(req.names) or None)
        return security_pb2.DescribeUsersResponse(
            users=[
                security_pb2.DescribedUser(
                    name=u.name,
                    credentials=[
                        security_pb2.UserCredentialInfo(mechanism=int(m), iterations=i)
                        for m, i in u.credentials
                    ],
                    error=error_proto(u.error),
                )
                for u in users
            ]
        )

    async def alter_users(
        self, req: security_pb2.AlterUsersRequest, context: _Ctx
    ) -> security_pb2.AlterUsersResponse:
        upserts = [
            ScramUpsertion(u.name, _mechanism(u.mechanism), u.iterations, u.salt, u.salted_password)
            for u in req.upsertions
        ]
        deletes = [ScramDeletion(d.name, _mechanism(d.mechanism)) for d in req.deletions]
        results = await self._security.alter_users(caller_of(context), upserts, deletes)
        return security_pb2.AlterUsersResponse(
            results=[
                security_pb2.UserResult(name=name, error=error_proto(error))
                for name, error in results.items()
            ]
        )

    async def create_acls(
        self, req: security_pb2.CreateAclsRequest, context: _Ctx
    ) -> security_pb2.CreateAclsResponse:
        bindings = [acl_from_proto(a) for a in req.acls]
        results = await self._security.create_acls(caller_of(context), bindings)
        return security_pb2.CreateAclsResponse(errors=[_error(e) for e in results])

    async def describe_acls(
        self, req: security_pb2.DescribeAclsRequest, context: _Ctx
    ) -> security_pb2.DescribeAclsResponse:
        found = self._security.describe_acls(caller_of(context), filter_from_proto(req.filter))
        return security_pb2.DescribeAclsResponse(acls=[acl_to_proto(b) for b in found])

    async def delete_acls(
        self, req: security_pb2.DeleteAclsRequest, context: _Ctx
    ) -> security_pb2.DeleteAclsResponse:
        filters = [filter_from_proto(f) for f in req.filters]
        matched = await self._security.delete_acls(caller_of(context), filters)
        return security_pb2.DeleteAclsResponse(
            results=[
                security_pb2.DeletedAcls(acls=[acl_to_proto(b) for b in found]) for found in matched
            ]
        )

    async def describe_quotas(
        self, req: security_pb2.DescribeQuotasRequest, context: _Ctx
    ) -> security_pb2.DescribeQuotasResponse:
        found = self._security.describe_quotas(
            caller_of(context),
            req.user if req.HasField("user") else None,
            req.client_id if req.HasField("client_id") else None,
            strict=req.strict,
        )
        return security_pb2.DescribeQuotasResponse(
            entries=[
                security_pb2.EntityQuotas(
                    entity=entity_to_proto(entity),
                    values=[
                        security_pb2.QuotaValue(key=k, value=v) for k, v in sorted(vals.items())
                    ],
                )
                for entity, vals in found
            ]
        )

    async def alter_quotas(
        self, req: security_pb2.AlterQuotasRequest, context: _Ctx
    ) -> security_pb2.AlterQuotasResponse:
        alterations = []
        for entry in req.entries:
            if not entry.entity.HasField("user") and not entry.entity.HasField("client_id"):
                raise InvalidRequestError("a quota entity names a user, a client id, or both")
            values = tuple((v.key, None if v.remove else v.value) for v in entry.values)
            alterations.append(QuotaAlteration(entity_from_proto(entry.entity), values))
        results = await self._security.alter_quotas(
            caller_of(context), alterations, validate_only=req.validate_only
        )
        return security_pb2.AlterQuotasResponse(errors=[_error(e) for e in results])

    async def who_am_i(
        self, req: security_pb2.WhoAmIRequest, context: _Ctx
    ) -> security_pb2.WhoAmIResponse:
        caller = caller_of(context)
        return security_pb2.WhoAmIResponse(principal=caller.principal, listener=caller.listener)
