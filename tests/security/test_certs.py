"""Certificates made by logd.security.certs work in a real TLS handshake (OpenSSL through
Python's ssl, over memory BIOs), and the ones that must not work do not: an expired
certificate and one from another CA."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest

from logd.security.certs import Issued, broker_node_id, issue, make_ca, subject_dn

NOW = dt.datetime.now(dt.UTC)


def _files(tmp: Path, name: str, issued: Issued) -> tuple[str, str]:
    cert, key = tmp / f"{name}.crt", tmp / f"{name}.key"
    cert.write_bytes(issued.cert_pem)
    key.write_bytes(issued.key_pem)
    return str(cert), str(key)


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> None:
    s_in, s_out, c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    srv = server.wrap_bio(s_in, s_out, server_side=True)
    cli = client.wrap_bio(c_in, c_out, server_hostname="localhost")
    done = {"s": False, "c": False}
    for _ in range(20):
        for name, end in (("c", cli), ("s", srv)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            # TLS 1.3: the server checks the client's certificate after the client is "done";
            # an exchange of application data surfaces a refusal.
            cli.write(b"ping")
            s_in.write(c_out.read())
            assert srv.read(4) == b"ping"
            return
    raise AssertionError("handshake did not finish")


def _contexts(
    tmp: Path, ca: Issued, server: Issued, client: Issued
) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca_file = tmp / "ca.crt"
    ca_file.write_bytes(ca.cert_pem)
    srv = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv.load_cert_chain(*_files(tmp, "server", server))
    srv.load_verify_locations(str(ca_file))
    srv.verify_mode = ssl.CERT_REQUIRED
    cli = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cli.load_cert_chain(*_files(tmp, "client", client))
    cli.load_verify_locations(str(ca_file))
    return srv, cli


def test_mutual_tls_with_issued_certificates(tmp_path: Path) -> None:
    ca = make_ca("cluster-1", NOW)
    srv, cli = _contexts(tmp_path, ca, issue(ca, "broker-1", NOW), issue(ca, "alice", NOW))
    _handshake(srv, cli)


def test_an_expired_client_certificate_is_refused(tmp_path: Path) -> None:
    ca = make_ca("cluster-1", NOW)
    old = issue(
        ca,
        "alice",
        NOW,
        not_before=NOW - dt.timedelta(days=10),
        not_after=NOW - dt.timedelta(days=1),
    )
    srv, cli = _contexts(tmp_path, ca, issue(ca, "broker-1", NOW), old)
    with pytest.raises(ssl.SSLError, match="expired"):
        _handshake(srv, cli)


def test_a_certificate_from_another_ca_is_refused(tmp_path: Path) -> None:
    ca, other = make_ca("cluster-1", NOW), make_ca("cluster-1", NOW, common_name="evil CA")
    srv, cli = _contexts(tmp_path, ca, issue(ca, "broker-1", NOW), issue(other, "alice", NOW))
    with pytest.raises(ssl.SSLError, match=r"unknown ca|certificate verify failed"):
        _handshake(srv, cli)


def test_names() -> None:
    ca = make_ca("c-42", NOW)
    broker = issue(ca, "broker-7", NOW)
    assert broker_node_id(broker.cert_pem) == 7
    assert broker_node_id(issue(ca, "alice", NOW).cert_pem) is None
    assert broker_node_id(issue(ca, "broker-x", NOW).cert_pem) is None
    assert subject_dn(broker.cert_pem) == "CN=broker-7,O=c-42"
