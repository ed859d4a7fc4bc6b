"""TLS on real sockets: a gRPC server with logd.tls credentials and an asyncio server with a
logd.tls context, each against clients that must get in and clients that must not, and
certificate files replaced under a running server."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from logd.frontends.grpc.tls import peer_certificate, server_credentials
from logd.security.certs import Issued, issue, make_ca, subject_dn
from logd.tls.contexts import ReloadingServerContext, client_context
from logd.tls.files import TlsFiles
from logd.tls.settings import ClientAuth, TlsSettings

NOW = dt.datetime.now(dt.UTC)


def channel_credentials(settings: TlsSettings) -> grpc.ChannelCredentials:
    def read(path: Path | None) -> bytes | None:
        return path.read_bytes() if path is not None else None

    return grpc.ssl_channel_credentials(read(settings.ca), read(settings.key), read(settings.cert))


def _write(directory: Path, name: str, issued: Issued) -> TlsSettings:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    cert.write_bytes(issued.cert_pem)
    key.write_bytes(issued.key_pem)
    return TlsSettings(cert, key)


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, TlsSettings]:
    ca, other = make_ca("c1", NOW), make_ca("c1", NOW, common_name="other CA")
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    ca_path = tmp_path / "ca.crt"
    srv = _write(tmp_path, "server", issue(ca, "broker-1", NOW))
    alice = _write(tmp_path, "alice", issue(ca, "alice", NOW))
    mallory = _write(tmp_path, "mallory", issue(other, "mallory", NOW))
    return {
        "server": TlsSettings(srv.cert, srv.key, ca_path, ClientAuth.REQUIRED),
        "alice": TlsSettings(alice.cert, alice.key, ca_path),
        "anonymous": TlsSettings(ca=ca_path),
        "mallory": TlsSettings(mallory.cert, mallory.key, ca_path),
        "ca_pair": TlsSettings(ca=ca_path),
    }


class _Echo(health.aio.HealthServicer):
    """Health's Check, answering with the caller's certificate subject as the service name."""

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        peer = peer_certificate(context)
        subject = subject_dn(peer.pem) if peer is not None and peer.pem else "-"
        await context.send_initial_metadata((("subject", subject),))
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


@contextlib.asynccontextmanager
async def _grpc_server(files: TlsFiles) -> AsyncIterator[str]:
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(_Echo(), server)
    port = server.add_secure_port("127.0.0.1:0", server_credentials(files))
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


async def _check(address: str, creds: grpc.ChannelCredentials | None) -> str:
    options = (("grpc.ssl_target_name_override", "localhost"),)
    channel = (
        grpc.aio.secure_channel(address, creds, options=options)
        if creds is not None
        else grpc.aio.insecure_channel(address)
    )
    async with channel:
        call = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        await call
        return dict(await call.initial_metadata())["subject"]


def test_grpc_mtls_admits_a_client_of_the_ca_and_sees_its_subject(
    pki: dict[str, TlsSettings],
) -> None:
    async def main() -> str:
        async with _grpc_server(TlsFiles(pki["server"])) as address:
            return await _check(address, channel_credentials(pki["alice"]))

    assert asyncio.run(main()) == "CN=alice,O=c1"


@pytest.mark.parametrize("who", ["anonymous", "mallory", "plaintext"])
def test_grpc_refuses_clients_without_a_certificate_of_the_ca(
    pki: dict[str, TlsSettings], who: str
) -> None:
    async def main() -> None:
        async with _grpc_server(TlsFiles(pki["server"])) as address:
            creds = None if who == "plaintext" else channel_credentials(pki[who])
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await _check(address, creds)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE

    asyncio.run(main())


def test_grpc_server_certificate_reloads(pki: dict[str, TlsSettings], tmp_path: Path) -> None:
    files = TlsFiles(pki["server"], check_interval_s=0.0)

    async def main() -> str:
        async with _grpc_server(files) as address:
            assert await _check(address, channel_credentials(pki["alice"])) == "CN=alice,O=c1"
            # A new CA and server certificate, renamed into place (how rotation is done).
            new_ca = make_ca("c1", NOW, common_name="rotated CA")
            new_server = issue(new_ca, "broker-1", NOW)
            for name, data in (
                ("server.crt", new_server.cert_pem),
                ("server.key", new_server.key_pem),
                ("ca.crt", new_ca.cert_pem),
            ):
                (tmp_path / f"{name}.new").write_bytes(data)
                os.replace(tmp_path / f"{name}.new", tmp_path / name)
            bob = _write(tmp_path, "bob", issue(new_ca, "bob", NOW))
            trusting_new = TlsSettings(bob.cert, bob.key, tmp_path / "ca.crt")
            return await _check(address, channel_credentials(trusting_new))

    assert asyncio.run(main()) == "CN=bob,O=c1"
    assert files.material.generation == 1


def test_asyncio_server_context_admits_and_refuses(pki: dict[str, TlsSettings]) -> None:
    asyncio.run(_asyncio_server(pki))


async def _asyncio_server(pki: dict[str, TlsSettings]) -> None:
    server_ctx = ReloadingServerContext(TlsFiles(pki["server"]))

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readexactly(4))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(on_client, "127.0.0.1", 0, ssl=server_ctx.context)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context(pki["alice"]), server_hostname="localhost"
        )
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
        writer.close()
        for who in ("anonymous", "mallory"):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client_context(pki[who]), server_hostname="localhost"
            )
            writer.write(b"ping")
            with pytest.raises((ssl.SSLError, asyncio.IncompleteReadError, ConnectionResetError)):
                await reader.readexactly(4)
            writer.close()
    finally:
        server.close()
        await server.wait_closed()
