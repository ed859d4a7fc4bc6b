"""Certificates for a private cluster (``logd dev --secure``, the tests): a CA, broker
certificates that name their broker, client certificates that name their user.

Built with ``cryptography`` (maintained, and what pyOpenSSL itself now builds on) rather
than by shelling out to openssl. Keys are EC P-256: every TLS stack logd talks to (OpenSSL
in Python's ssl, BoringSSL in gRPC, librdkafka) accepts them, and they are fast to make.

How a certificate names a broker: subject ``CN=broker-<node id>`` plus the cluster id in
``O``; the internal (broker-to-broker) service accepts a TLS peer only when its certificate
chains to the cluster CA and its CN is ``broker-<id>`` for a broker of the cluster
(``cert_names.broker_node_id`` reads it back). A client certificate has ``CN=<user>``.

Pure apart from key generation, which takes its randomness from OpenSSL's CSPRNG (keys
must not come from a seeded generator); time comes in as ``now``. Returns PEM bytes; the
caller writes files.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Reading a certificate back is ``cert_names``' (imported by every broker, cryptography-free
# until used); re-exported here beside what issues them.
from logd.security.cert_names import BROKER_CN_PREFIX, broker_node_id, subject_dn

__all__ = [
    "BROKER_CN_PREFIX",
    "Issued",
    "broker_node_id",
    "issue",
    "make_ca",
    "subject_dn",
]

_LOOPBACK = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(
    cluster_id: str, now: dt.datetime, days: int = 3650, common_name: str = "logd CA"
) -> Issued:
    """A self-signed CA that signs the cluster's broker and client certificates."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name, cluster_id)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue(
    ca: Issued,
    common_name: str,
    now: dt.datetime,
    *,
    days: int = 825,
    hosts: tuple[str, ...] = _LOOPBACK,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> Issued:
    """A leaf certificate signed by ``ca``, good for TLS server *and* client auth (a broker
    is both), with ``hosts`` (names or IP addresses) as subject alternative names. The
    explicit ``not_before``/``not_after`` exist for tests of expired certificates."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    organization = ca_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, str(organization)))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(minutes=5))
        .not_valid_after(not_after or now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))
