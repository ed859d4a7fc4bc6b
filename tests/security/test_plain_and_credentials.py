"""SASL/PLAIN parsing and the password check shared by PLAIN, HTTP Basic and gRPC metadata."""

from __future__ import annotations

import pytest

from logd.errors import SaslAuthenticationFailedError
from logd.security.credentials import PasswordVerifier
from logd.security.plain import parse_plain
from logd.security.scram import ScramCredential, ScramMechanism, make_credential

KEY = b"k" * 32


def test_parse_plain() -> None:
    assert parse_plain(b"\0alice\0secret").username == "alice"
    assert parse_plain(b"alice\0alice\0secret").password == "secret"
    for bad in (
        b"alice\0secret",
        b"\0\0pw",
        b"\0alice\0",
        b"bob\0alice\0pw",
        b"\0a\0" + b"p" * 256,
        b"\0\xff\0pw",
    ):
        with pytest.raises(SaslAuthenticationFailedError):
            parse_plain(bad)


def test_verifier_checks_caches_and_forgets_a_changed_credential() -> None:
    store: dict[str, list[ScramCredential]] = {
        "alice": [make_credential(ScramMechanism.SCRAM_SHA_512, "pw1", b"salt1salt1salt1!", 4096)]
    }
    verifier = PasswordVerifier(lambda u: store.get(u, []), KEY, cache_max=2)
    assert verifier.verify("alice", "pw1")
    assert verifier.verify("alice", "pw1")  # from the cache
    assert not verifier.verify("alice", "pw2")
    assert not verifier.verify("nobody", "pw1")
    store["alice"] = [
        make_credential(ScramMechanism.SCRAM_SHA_256, "pw2", b"salt2salt2salt2!", 4096)
    ]
    assert not verifier.verify("alice", "pw1")  # the cached success no longer counts
    assert verifier.verify("alice", "pw2")
    del store["alice"]
    assert not verifier.verify("alice", "pw2")


def test_the_cache_is_bounded() -> None:
    store = {
        f"u{i}": [make_credential(ScramMechanism.SCRAM_SHA_256, "pw", b"saltsaltsaltsalt", 4096)]
        for i in range(5)
    }
    verifier = PasswordVerifier(lambda u: store.get(u, []), KEY, cache_max=2)
    for user in store:
        assert verifier.verify(user, "pw")
    assert len(verifier._cache) == 2
