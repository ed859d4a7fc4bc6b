"""SCRAM-SHA-256/512 server (RFC 5802/7677): the RFC's vector, an independent client
(scramp), and every refusal — wrong password, unknown user, a tampered nonce
(CVE-2024-56128), a foreign channel binding, impersonation through the authzid — with one
error type and no other exception for any input."""

from __future__ import annotations

import base64

import pytest
import scramp
from hypothesis import given, settings
from hypothesis import strategies as st

from logd.errors import SaslAuthenticationFailedError, UnacceptableCredentialError
from logd.security.scram import (
    ITERATIONS_MAX,
    ITERATIONS_MIN,
    MESSAGE_MAX,
    ScramClient,
    ScramCredential,
    ScramMechanism,
    ScramServer,
    make_credential,
    new_nonce,
    salted_password,
    verify_password,
)

SHA256 = ScramMechanism.SCRAM_SHA_256
SHA512 = ScramMechanism.SCRAM_SHA_512
SECRET = b"s" * 32

# RFC 7677 section 3
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC_CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_NONCE = RFC_CLIENT_NONCE + RFC_SERVER_NONCE
RFC_FINAL = f"c=biws,r={RFC_NONCE},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="


def _server(
    users: dict[str, ScramCredential], mech: ScramMechanism = SHA256, nonce: str = RFC_SERVER_NONCE
) -> ScramServer:
    return ScramServer(mech, users.get, nonce, SECRET)


def _users(mech: ScramMechanism = SHA256, password: str = "pencil") -> dict[str, ScramCredential]:
    return {"user": make_credential(mech, password, RFC_SALT, 4096)}


def test_rfc7677_exchange_byte_for_byte() -> None:
    server = _server(_users())
    first = server.step(f"n,,n=user,r={RFC_CLIENT_NONCE}".encode())
    assert first == f"r={RFC_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".encode()
    final = server.step(RFC_FINAL.encode())
    assert final == b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    assert server.complete and server.username == "user"


def test_our_client_produces_the_rfc_messages() -> None:
    client = ScramClient(SHA256, "user", "pencil", RFC_CLIENT_NONCE)
    assert client.first() == f"n,,n=user,r={RFC_CLIENT_NONCE}".encode()
    server_first = f"r={RFC_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".encode()
    assert client.final(server_first) == RFC_FINAL.encode()
    client.verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")


@pytest.mark.parametrize(("mech", "name"), [(SHA256, "SCRAM-SHA-256"), (SHA512, "SCRAM-SHA-512")])
def test_an_independent_client_authenticates(mech: ScramMechanism, name: str) -> None:
    users = {"alice": make_credential(mech, "wonder land", b"0123456789abcdef", 4096)}
    server = _server(users, mech, new_nonce(b"n" * 24))
    client = scramp.ScramClient([name], "alice", "wonder land")
    server_first = server.step(client.get_client_first().encode())
    client.set_server_first(server_first.decode())
    server_final = server.step(client.get_client_final().encode())
    client.set_server_final(server_final.decode())  # raises if the server's proof is wrong
    assert server.username == "alice"


def _exchange(server: ScramServer, user: str, password: str, mech: ScramMechanism) -> bytes:
    client = ScramClient(mech, user, password, "clientnonce0123456789")
    server_first = server.step(client.first())
    return server.step(client.final(server_first))


def test_wrong_password_and_unknown_user_fail_alike() -> None:
    users = _users(SHA512, "right")
    errors = []
    for user, password in (("user", "wrong"), ("nobody", "right")):
        server = _server(users, SHA512, new_nonce(b"x" * 24))
        with pytest.raises(SaslAuthenticationFailedError) as info:
            _exchange(server, user, password, SHA512)
        errors.append(str(info.value))
        assert not server.complete
    assert errors[0] == errors[1]
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in errors[0]


def test_an_unknown_user_sees_a_stable_plausible_salt() -> None:
    firsts = []
    for _ in range(2):
        server = _server({}, SHA256, new_nonce(b"y" * 24))
        firsts.append(server.step(b"n,,n=ghost,r=abcdefghijklmnop"))
    salts = [dict(f.split(b"=", 1) for f in m.split(b","))[b"s"] for m in firsts]
    assert salts[0] == salts[1] and len(base64.b64decode(salts[0])) == 32
    assert b",i=4096" in firsts[0]


def test_a_credential_of_the_other_mechanism_does_not_authenticate() -> None:
    server = _server(_users(SHA512, "pencil"), SHA256, new_nonce(b"z" * 24))
    with pytest.raises(SaslAuthenticationFailedError):
        _exchange(server, "user", "pencil", SHA256)


def test_a_nonce_other_than_the_servers_is_refused_cve_2024_56128() -> None:
    server = _server(_users())
    server.step(f"n,,n=user,r={RFC_CLIENT_NONCE}".encode())
    # A valid proof computed over a client-final whose nonce is only the client's part.
    client = ScramClient(SHA256, "user", "pencil", RFC_CLIENT_NONCE)
    forged = client.final(f"r={RFC_CLIENT_NONCE}X,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".encode())
    with pytest.raises(SaslAuthenticationFailedError, match="nonce"):
        server.step(forged)


def test_a_channel_binding_other_than_the_gs2_header_is_refused() -> None:
    server = _server(_users())
    server.step(f"n,,n=user,r={RFC_CLIENT_NONCE}".encode())
    tampered = RFC_FINAL.replace("c=biws", "c=" + base64.b64encode(b"y,,").decode())
    with pytest.raises(SaslAuthenticationFailedError, match="channel binding"):
        server.step(tampered.encode())


def test_an_authzid_other_than_the_user_is_refused() -> None:
    server = _server(_users())
    with pytest.raises(SaslAuthenticationFailedError, match="authorization id"):
        server.step(f"n,a=admin,n=user,r={RFC_CLIENT_NONCE}".encode())
    same = _server(_users())
    assert same.step(f"n,a=user,n=user,r={RFC_CLIENT_NONCE}".encode()).startswith(b"r=")


def test_channel_binding_required_and_delegation_tokens_are_refused() -> None:
    for message in (
        b"p=tls-unique,,n=user,r=abcdefghijklmnop",
        b"n,,n=user,r=abcdefghijklmnop,tokenauth=true",
    ):
        with pytest.raises(SaslAuthenticationFailedError):
            _server(_users()).step(message)


def test_escaped_user_names() -> None:
    users = {"a,b=c": make_credential(SHA256, "pw", b"salt-salt-salt!!", 4096)}
    server = _server(users, SHA256, new_nonce(b"e" * 24))
    _exchange(server, "a,b=c", "pw", SHA256)
    assert server.username == "a,b=c"
    with pytest.raises(SaslAuthenticationFailedError, match="escape"):
        _server(users).step(b"n,,n=a=2Xb,r=abcdefghijklmnop")


def test_a_message_after_completion_or_failure_is_refused() -> None:
    server = _server(_users())
    server.step(f"n,,n=user,r={RFC_CLIENT_NONCE}".encode())
    server.step(RFC_FINAL.encode())
    with pytest.raises(SaslAuthenticationFailedError, match="unexpected"):
        server.step(RFC_FINAL.encode())


def test_oversized_messages_are_refused_before_parsing() -> None:
    with pytest.raises(SaslAuthenticationFailedError, match="longer than"):
        _server(_users()).step(b"n,,n=user,r=" + b"a" * MESSAGE_MAX)


def test_iteration_bounds() -> None:
    for bad in (ITERATIONS_MIN - 1, ITERATIONS_MAX + 1, 0):
        with pytest.raises(UnacceptableCredentialError):
            make_credential(SHA256, "pw", b"salt", bad)
    with pytest.raises(UnacceptableCredentialError):
        make_credential(SHA256, "", b"salt", 4096)


def test_verify_password() -> None:
    credential = make_credential(SHA512, "correct horse", b"saltsaltsaltsalt", 4096)
    assert verify_password(credential, "correct horse")
    assert not verify_password(credential, "correct hors")
    assert credential.stored_key != b"correct horse" and len(credential.stored_key) == 64


@settings(max_examples=300, deadline=None)
@given(first=st.binary(max_size=200), final=st.binary(max_size=300))
def test_any_bytes_get_the_one_error_type(first: bytes, final: bytes) -> None:
    server = _server(_users(), SHA256, new_nonce(b"f" * 24))
    try:
        server.step(first)
        server.step(final)
    except SaslAuthenticationFailedError:
        return
    raise AssertionError("random bytes authenticated")


@settings(max_examples=200, deadline=None)
@given(
    name=st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x2FF), min_size=1, max_size=20
    ),
    password=st.text(min_size=1, max_size=30),
)
def test_any_user_and_password_round_trip(name: str, password: str) -> None:
    users = {name: make_credential(SHA256, password, b"0123456789abcdef", 4096)}
    server = ScramServer(SHA256, users.get, new_nonce(b"r" * 24), SECRET)
    client = ScramClient(SHA256, name, password, "clientnonce0123456789")
    client.verify(server.step(client.final(server.step(client.first()))))
    assert server.username == name


def _final_with_nonce(nonce: str) -> bytes:
    """A client-final for the RFC 7677 exchange whose r= is ``nonce``, with a valid proof
    over it (what librdkafka < 2.6.1 computes: the real server-first, its own r=)."""
    mech = SHA256
    salted = salted_password(mech, b"pencil", RFC_SALT, 4096)
    client_key = mech.hmac(salted, b"Client Key")
    without_proof = f"c=biws,r={nonce}"
    server_first = f"r={RFC_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    auth = f"n=user,r={RFC_CLIENT_NONCE},{server_first},{without_proof}".encode()
    signature = mech.hmac(mech.digest(client_key), auth)
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


def test_librdkafka_before_2_6_1_doubles_the_client_nonce_and_is_accepted() -> None:
    """librdkafka#4895: its client-final nonce is client nonce + combined nonce. Accepted;
    any other prefix is not."""
    for nonce, ok in (
        (RFC_CLIENT_NONCE + RFC_NONCE, True),
        (RFC_CLIENT_NONCE * 2 + RFC_NONCE, False),
        ("x" + RFC_NONCE, False),
    ):
        server = _server(_users())
        server.step(f"n,,n=user,r={RFC_CLIENT_NONCE}".encode())
        if ok:
            assert server.step(_final_with_nonce(nonce)).startswith(b"v=")
        else:
            with pytest.raises(SaslAuthenticationFailedError, match="nonce"):
                server.step(_final_with_nonce(nonce))
