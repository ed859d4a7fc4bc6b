"""What a peer's certificate names: its RFC 4514 subject (principal mapping rules read it) and
the broker id of a broker certificate (``CN=broker-<id>``, ``logd.security.certs`` issues them).

Apart from ``certs`` (which makes certificates) because every broker imports this through its
authentication path, while only a TLS peer's certificate ever calls it: ``cryptography`` is
imported on the first call, not at the broker's start. Pure.
"""

from __future__ import annotations

from typing import Final

__all__ = ["BROKER_CN_PREFIX", "broker_node_id", "subject_dn"]

BROKER_CN_PREFIX: Final = "broker-"


def subject_dn(cert_pem: bytes) -> str:
    """The RFC 4514 subject (``CN=alice,O=...``) that principal mapping rules read."""
    from cryptography import x509

    return x509.load_pem_x509_certificate(cert_pem).subject.rfc4514_string()


def broker_node_id(cert_pem: bytes) -> int | None:
    """The broker id a certificate names (``CN=broker-<id>``), or None."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = x509.load_pem_x509_certificate(cert_pem)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        return None
    common = str(names[0].value)
    digits = common.removeprefix(BROKER_CN_PREFIX)
    if digits == common or not digits.isdigit() or len(digits) > 9:
        return None
    return int(digits)
