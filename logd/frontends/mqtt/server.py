"""The MQTT listener (DESIGN.md ``--mqtt-listen``, default 127.0.0.1:1883): the front end
``logd.node`` starts, and what its connections share.

:class:`MqttServer` implements ``logd.node.frontends.FrontEnd``: ``start`` loads the rules,
creates the internal topics (``__mqtt_sessions``, ``__mqtt_retained``) and starts reading
them, then binds; ``begin_drain`` stops accepting and refuses new CONNECTs; ``stop``
disconnects every client (5.0: Server shutting down), lets the sessions' last writes finish
within the grace period, then cancels what is left.

Shared by every connection: the :class:`~.access.LogAccess` to the seam, one
:class:`~.ingest.Ingest`, the session and retained tables, the rule set (reloaded when its
file changes: a file that does not parse is logged and the rules in force stay), and one
housekeeping task a second — CONNECT deadlines, keep-alive, packets that take too long to
arrive (a slow-loris client), positions of persistent sessions committed, rules reloaded.
No timer per connection: an idle connection costs nothing but its objects.

Ownership: the broker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Coroutine
from typing import Any

from logd.broker.routing import Router
from logd.broker.seam import ANONYMOUS, Caller
from logd.errors import InvalidConfigError, LogdError, SecurityDisabledError
from logd.frontends.mqtt.access import LogAccess
from logd.frontends.mqtt.connection import ConnectRequested
from logd.frontends.mqtt.errors import MqttError
from logd.frontends.mqtt.exactly_once import ExactlyOnce
from logd.frontends.mqtt.handler import MqttHandler
from logd.frontends.mqtt.ingest import Ingest
from logd.frontends.mqtt.publish import Publisher
from logd.frontends.mqtt.reasons import ReasonCode
from logd.frontends.mqtt.rules import DEFAULT_RULES, RuleSet, parse_rules
from logd.frontends.mqtt.sessions import SessionKeeper
from logd.frontends.mqtt.settings import MqttSettings
from logd.frontends.mqtt.state import ConnState
from logd.frontends.mqtt.store import RetainedTable, SessionTable
from logd.metadata.types import HostPort
from logd.tls.contexts import ReloadingServerContext
from logd.tls.files import TlsFiles
from logd.tls.settings import TlsSettings

__all__ = ["MqttServer", "ServerStats"]

_log = logging.getLogger(__name__)
_SWEEP_S = 1.0
_EXPIRY_ROUNDS = 30  # sessions are looked at for expiry every 30 s


class ServerStats:
    __slots__ = ("accepted", "connected", "refused")

    def __init__(self) -> None:
        self.accepted = 0
        self.connected = 0
        self.refused = 0


class MqttServer:
    """See the module docstring."""

    name = "mqtt"

    def __init__(
        self,
        address: HostPort,
        router: Router,
        settings: MqttSettings,
        *,
        internal_replication_factor: int = 1,
        rng: random.Random | None = None,
        tls: TlsSettings | None = None,
    ) -> None:
        self.address = address
        self.settings = settings
        self.rng = rng or random.Random()
        self.stats = ServerStats()
        self.access = LogAccess(router, auto_create=settings.auto_create_topics)
        #: Where each connection reports its packets (the broker's request figures).
        self.telemetry = router.seam.telemetry
        self.telemetry.connections["mqtt"] = lambda: len(self._handlers)
        self.ingest = Ingest(self.access)
        self.rules: RuleSet = DEFAULT_RULES
        self.sessions_table = SessionTable(self.access, self.ingest)
        self.retained = RetainedTable(self.access, self.ingest)
        self.publisher = Publisher(
            self.ingest,
            self.retained,
            lambda: self.rules,
            ExactlyOnce(self.access, self.sessions_table),
            self.spawn,
        )
        self.sessions = SessionKeeper(
            self.access, self.sessions_table, self.retained, lambda: self.rules, router.node_id
        )
        self.sessions.publisher = self.publisher
        self.sessions_table.on_claimed = self._claimed_elsewhere
        self.access.on_topic_made(self._topic_made)
        self._internal_rf = internal_replication_factor
        #: TLS on the listener (the broker's ``--tls-*``; files re-read when they change).
        self._tls = (
            ReloadingServerContext(TlsFiles(tls)) if tls is not None and tls.enabled else None
        )
        self._handlers: set[MqttHandler] = set()
        self._by_client: dict[str, MqttHandler] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._rules_mtime: float | None = None
        self.draining = False

    # -- FrontEnd ---------------------------------------------------------------------------

    async def start(self) -> HostPort:
        self._reload_rules(initial=True)
        for table in (self.sessions_table, self.retained):
            table.configure(self._internal_rf)
            await table.follow()
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                self._accept, self.address.host, self.address.port,
                backlog=4096, reuse_address=True,
                ssl=self._tls.context if self._tls is not None else None,
            )  # fmt: skip
        except OSError as exc:
            raise InvalidConfigError(f"mqtt.listen {self.address}: {exc.strerror}") from None
        self._sweeper = loop.create_task(self._sweep(), name="mqtt housekeeping")
        host, port = self._server.sockets[0].getsockname()[:2]
        _log.info("mqtt: listening on %s:%s", host, port)
        return HostPort(str(host), int(port))

    def _accept(self) -> MqttHandler:
        if self._tls is not None:
            self._tls.refresh()  # new certificate files take effect for new connections
        return MqttHandler(self)

    def begin_drain(self) -> None:
        self.draining = True
        if self._server is not None:
            self._server.close()

    async def stop(self, grace_s: float) -> None:
        self.begin_drain()
        for handler in list(self._handlers):
            handler.disconnect(ReasonCode.SERVER_SHUTTING_DOWN, "the broker is shutting down")
        if self._tasks and grace_s > 0:
            await asyncio.wait(list(self._tasks), timeout=grace_s)
        for task in [*self._tasks, *([self._sweeper] if self._sweeper else [])]:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._sweeper is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        self.sessions.close()
        await self.sessions_table.stop()
        await self.retained.stop()

    # -- connections ------------------------------------------------------------------------

    def opened(self, handler: MqttHandler) -> None:
        self._handlers.add(handler)
        self.stats.accepted += 1

    def closed(self, handler: MqttHandler) -> None:
        self._handlers.discard(handler)
        client_id = handler.conn.client_id
        if client_id and self._by_client.get(client_id) is handler:
            del self._by_client[client_id]
            self.stats.connected -= 1

    @property
    def connections(self) -> int:
        return len(self._handlers)

    def admission(self, handler: MqttHandler) -> ReasonCode | None:
        """Why a CONNECT is refused now (5.0 codes; 3.1.1 hears 'server unavailable')."""
        if self.draining:
            return ReasonCode.SERVER_UNAVAILABLE
        if len(self._by_client) >= self.settings.max_connections:
            return ReasonCode.SERVER_BUSY
        return None

    async def authenticate(self, handler: MqttHandler, event: ConnectRequested) -> Caller:
        """Who the client is, through the seam's security half (the same users, checks,
        failure counts and delays as every other door): CONNECT's user name and password
        (checked against the user's SCRAM keys), else the client certificate TLS verified
        (``ssl.principal.mapping.rules``), else anonymous -- refused with Not authorized
        when the broker requires authentication. A wrong password: Bad user name or
        password (3.1.1: return code 4). Without security on the broker, everyone is
        anonymous and a user name is ignored."""
        security = self.access.seam.security
        connect = event.connect
        address = handler.address
        principal: str | None = None
        if connect.username is not None:
            try:
                password = (connect.password or b"").decode("utf-8")
            except UnicodeDecodeError:
                await security.failed(self.name, "password not UTF-8", address)
                raise MqttError(
                    ReasonCode.BAD_USER_NAME_OR_PASSWORD, "bad user name or password"
                ) from None
            try:
                principal = await security.authenticate_password(
                    connect.username, password, self.name, address
                )
            except SecurityDisabledError:
                principal = None
            except LogdError as exc:
                raise MqttError(ReasonCode.BAD_USER_NAME_OR_PASSWORD, str(exc)) from None
        elif handler.certificate is not None and security.authentication_required:
            principal = security.certificate_principal_now(handler.certificate, self.name)
        if principal is None and security.authentication_required:
            await security.failed(self.name, "no credentials", address)
            raise MqttError(
                ReasonCode.NOT_AUTHORIZED,
                "authentication required: a user name and password, or a client certificate",
            )
        return Caller(
            principal=principal or ANONYMOUS.principal,
            client_id=event.client_id,
            listener=self.name,
            address=address,
        )

    async def claim(self, handler: MqttHandler, client_id: str) -> None:
        """``handler`` is now ``client_id``'s connection here; an older one is taken over
        ([MQTT-3.1.4-3]) after its positions are committed."""
        old = self._by_client.get(client_id)
        self._by_client[client_id] = handler
        if old is None:
            self.stats.connected += 1
            return
        if old.session is not None:
            old.session.taken_over = True
            with contextlib.suppress(LogdError):
                await old.session.commit()
        old.disconnect(ReasonCode.SESSION_TAKEN_OVER, "another connection took the session")

    def _claimed_elsewhere(self, client_id: str, gen: int, broker: int) -> None:
        handler = self._by_client.get(client_id)
        if handler is None or broker == self.sessions.node_id or handler.session is None:
            return
        if handler.session.state.gen < gen:
            handler.session.taken_over = True
            handler.disconnect(ReasonCode.SESSION_TAKEN_OVER, f"resumed on broker {broker}")

    def _topic_made(self) -> None:
        for handler in self._handlers:
            if handler.session is not None:
                handler.session.delivery.wake()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as the front end's (``stop`` waits for it within the grace)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- housekeeping -----------------------------------------------------------------------

    async def _sweep(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(_SWEEP_S)
            rounds += 1
            self._check_connections(time.monotonic())
            if rounds % _EXPIRY_ROUNDS == 0:
                self.spawn(self._expire_sessions())
            for table in (self.sessions_table, self.retained):
                with contextlib.suppress(LogdError):
                    await table.follow()
            for handler in list(self._handlers):
                session = handler.session
                if session is not None and session.persistent and session.delivery.dirty:
                    self.spawn(session.commit())
            self._reload_rules()

    async def _expire_sessions(self) -> None:
        """Delete the sessions whose expiry passed since their connection (on the broker
        that served them last) ended. Their positions stay in their group until deleted
        (``logd group delete mqtt-<client id>``)."""
        now_ms = time.time_ns() // 1_000_000
        for state in self.sessions_table:
            mine = state.broker == self.sessions.node_id
            if mine and state.expired(now_ms) and state.client_id not in self._by_client:
                with contextlib.suppress(LogdError):
                    await self.sessions_table.delete(state.client_id, state.gen)
                    _log.info("mqtt: session %s expired", state.client_id)

    def _check_connections(self, now: float) -> None:
        connect_s = self.settings.connect_timeout_ms / 1000.0
        packet_s = self.settings.packet_timeout_ms / 1000.0
        for handler in list(self._handlers):
            conn = handler.conn
            if conn.state is ConnState.AWAIT_CONNECT and now - handler.opened > connect_s:
                handler.disconnect(ReasonCode.MAXIMUM_CONNECT_TIME, "no CONNECT in time")
                continue
            deadline = conn.keep_alive_deadline()
            if deadline is not None and now > deadline:
                handler.disconnect(ReasonCode.KEEP_ALIVE_TIMEOUT, "keep-alive timeout")
                continue
            since = handler.partial_since
            if since is not None and now - since > packet_s:
                handler.disconnect(ReasonCode.KEEP_ALIVE_TIMEOUT, "a packet took too long")

    def _reload_rules(self, *, initial: bool = False) -> None:
        path = self.settings.rules
        if path is None:
            return
        try:
            mtime = path.stat().st_mtime
        except OSError as exc:
            if initial:
                raise InvalidConfigError(f"mqtt.rules {path}: {exc.strerror}") from None
            return
        if mtime == self._rules_mtime:
            return
        self._rules_mtime = mtime
        try:
            self.rules = parse_rules(path.read_text(encoding="utf-8"), str(path))
        except (InvalidConfigError, OSError, UnicodeDecodeError) as exc:
            if initial:
                raise InvalidConfigError(str(exc)) from None
            _log.warning("mqtt: rules not reloaded, the rules in force stay: %s", exc)
            return
        _log.info("mqtt: %d rules from %s", len(self.rules.rules), path)
