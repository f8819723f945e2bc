"""Certificates of the real node, signed by the CA that kwokctl generated for the cluster.

The kubelet gets a client certificate as `system:node:<name>` (group system:nodes), so the Node
authorizer and NodeRestriction confine it to its own Node and Pods, and a serving certificate
for the node's name and address, which the API server verifies
(--kubelet-certificate-authority). kube-proxy gets `system:kube-proxy`, which the default RBAC
binds to system:node-proxier. A certificate is issued again only when the CA changed (a
recreated cluster) or it is missing.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import warnings
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)


def _issue(
    ca_cert: x509.Certificate,
    ca_key: object,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName],
) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]  # any CA key type kwokctl made
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def node_certificates(*, ca_cert: Path, ca_key: Path, out: Path, node_name: str, node_ip: str) -> None:
    ca_pem = ca_cert.read_bytes()
    fingerprint = hashlib.sha256(ca_pem).hexdigest()
    marker = out / "ca.sha256"
    wanted = ("kubelet-client", "kubelet-serving", "kube-proxy")
    if marker.is_file() and marker.read_text() == fingerprint and all((out / f"{n}.crt").is_file() for n in wanted):
        return
    with warnings.catch_warnings():
        # kwokctl's CA has a serial number that is not positive; cryptography warns, Go accepts it.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        ca = x509.load_pem_x509_certificate(ca_pem)
    signer = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)

    def name(common: str, org: str | None = None) -> x509.Name:
        parts = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
        if org:
            parts.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
        return x509.Name(parts)

    issued = {
        "kubelet-client": _issue(
            ca, signer, name(f"system:node:{node_name}", "system:nodes"), ExtendedKeyUsageOID.CLIENT_AUTH, []
        ),
        "kubelet-serving": _issue(
            ca,
            signer,
            name(node_name),
            ExtendedKeyUsageOID.SERVER_AUTH,
            [x509.DNSName(node_name), x509.IPAddress(ipaddress.ip_address(node_ip))],
        ),
        "kube-proxy": _issue(ca, signer, name("system:kube-proxy"), ExtendedKeyUsageOID.CLIENT_AUTH, []),
    }
    out.mkdir(parents=True, exist_ok=True)
    for base, (cert_pem, key_pem) in issued.items():
        key_file = out / f"{base}.key"
        key_file.write_bytes(key_pem)
        key_file.chmod(0o600)
        (out / f"{base}.crt").write_bytes(cert_pem)
    marker.write_text(fingerprint)
