"""The broker's security keys (TOML and flags), parsed into ``SecuritySettings`` and
``TlsSettings``. Names are DESIGN.md's, with Kafka's where Kafka has one:

===================================  ==================================  ===================
key                                  flag                                default
===================================  ==================================  ===================
``tls.cert`` / ``tls.key``           ``--tls-cert`` / ``--tls-key``      off (plaintext)
``tls.ca``                           ``--tls-ca``                        none
``tls.client.auth``                  ``--tls-client-auth``               none
  (``ssl.client.auth``)
``auth``                             ``--auth none|sasl``                none
``super.users``                      ``--super-users User:a,User:b``     none
``allow.everyone.if.no.acl.found``                                       false with auth
``ssl.principal.mapping.rules``                                          DEFAULT
``sasl.enabled.mechanisms``                                              all three
``cluster.id``                       ``--cluster-id``                    from the peers
``quota.window.num``                                                     11 (Kafka's)
``quota.window.size.seconds``                                            1
===================================  ==================================  ===================

``cluster.id`` is what brokers present to each other when TLS is off (with TLS, the broker
certificate does): brokers of one cluster must agree on it; without one, it is derived from
the peer list, which every broker of the cluster shares (and which anyone who knows the
peers can compute: docs/security.md says why that is weaker than mTLS). Reads nothing;
checks that the TLS files named exist.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from logd.broker.security.settings import SASL_MECHANISMS, AuthMode, SecuritySettings
from logd.errors import InvalidConfigError
from logd.tls.settings import ClientAuth, TlsSettings

__all__ = ["SECURITY_KEYS", "derived_cluster_id", "is_security_key", "parse_security"]

SECURITY_KEYS = frozenset(
    {
        "tls.cert",
        "tls.key",
        "tls.ca",
        "tls.client.auth",
        "ssl.client.auth",
        "auth",
        "super.users",
        "allow.everyone.if.no.acl.found",
        "ssl.principal.mapping.rules",
        "sasl.enabled.mechanisms",
        "cluster.id",
        "quota.window.num",
        "quota.window.size.seconds",
    }
)


def is_security_key(key: str) -> bool:
    return key in SECURITY_KEYS


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidConfigError(f"{key}: expected a string, got {value!r}")
    return value.strip()


def _list(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list | tuple):
        items = [_text(key, v) for v in value]
    else:
        raise InvalidConfigError(f"{key}: expected a comma-separated list, got {value!r}")
    return tuple(i.strip() for i in items if i.strip())


def _int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidConfigError(f"{key}: expected an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise InvalidConfigError(f"{key}: expected an integer, got {value!r}") from None


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise InvalidConfigError(f"{key}: expected true or false, got {value!r}")


def parse_security(values: Mapping[str, Any]) -> tuple[SecuritySettings, TlsSettings, str]:
    """(security settings, TLS settings, configured cluster id or "")."""
    get = values.get
    path = {k: Path(_text(k, get(k))) for k in ("tls.cert", "tls.key", "tls.ca") if get(k)}
    auth_text = get("tls.client.auth", get("ssl.client.auth", "none"))
    client_auth = ClientAuth.parse(_text("tls.client.auth", auth_text))
    tls = TlsSettings(path.get("tls.cert"), path.get("tls.key"), path.get("tls.ca"), client_auth)
    if tls.enabled or tls.key is not None:
        tls.check_server()
    elif client_auth is not ClientAuth.NONE:
        raise InvalidConfigError("tls.client.auth: needs TLS (--tls-cert and --tls-key)")
    allow = get("allow.everyone.if.no.acl.found")
    security = SecuritySettings(
        auth=AuthMode.parse(_text("auth", get("auth", "none"))),
        mtls=client_auth is ClientAuth.REQUIRED,
        super_users=_list("super.users", get("super.users", "")),
        allow_everyone_if_no_acl_found=None
        if allow is None
        else _bool("allow.everyone.if.no.acl.found", allow),
        principal_mapping_rules=_text(
            "ssl.principal.mapping.rules", get("ssl.principal.mapping.rules", "DEFAULT")
        ),
        sasl_mechanisms=_list(
            "sasl.enabled.mechanisms", get("sasl.enabled.mechanisms", ",".join(SASL_MECHANISMS))
        ),
        quota_window_num=_int("quota.window.num", get("quota.window.num", 11)),
        quota_window_size_s=_int("quota.window.size.seconds", get("quota.window.size.seconds", 1)),
    )
    cluster_id = _text("cluster.id", get("cluster.id", ""))
    if len(cluster_id) > 128:
        raise InvalidConfigError("cluster.id: at most 128 characters")
    return security, tls, cluster_id


def derived_cluster_id(peers: Mapping[int, str]) -> str:
    """The cluster id brokers present when none is configured: a digest of the peer list."""
    text = ",".join(f"{n}@{a}" for n, a in sorted(peers.items()))
    return "peers-" + hashlib.sha256(text.encode()).hexdigest()[:24]
