"""Signing identities: the studio's certificate chain and key, or a local development one.

Production keys come from configuration (RECAST_C2PA_CERT / RECAST_C2PA_KEY: paths, e.g. a
mounted Kubernetes Secret). A laptop or a test gets a generated ES256 chain (a CA and a signer)
that C2PA accepts but no validator trusts unless told to: it proves the plumbing, not the studio.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class SigningIdentity:
    chain_pem: bytes  # signer certificate first, then the CA
    key_pem: bytes
    anchor_pem: bytes | None = None  # the CA, to verify against
    development: bool = False


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Recast development"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def development_identity(days: int = 30) -> SigningIdentity:
    """A fresh CA + ES256 signer with the extensions C2PA requires of a signing certificate."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Recast development CA"))
        .issuer_name(_name("Recast development CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    signer = (
        x509.CertificateBuilder()
        .subject_name(_name("Recast development signer"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SigningIdentity(_pem(signer) + _pem(ca), key_pem, _pem(ca), development=True)


def configured_identity() -> SigningIdentity | None:
    """The studio's identity from RECAST_C2PA_CERT / RECAST_C2PA_KEY (/ _ANCHOR), if set."""
    cert, key = os.environ.get("RECAST_C2PA_CERT"), os.environ.get("RECAST_C2PA_KEY")
    if not cert or not key:
        return None
    anchor = os.environ.get("RECAST_C2PA_ANCHOR")
    return SigningIdentity(
        chain_pem=Path(cert).read_bytes(),
        key_pem=Path(key).read_bytes(),
        anchor_pem=Path(anchor).read_bytes() if anchor else None,
    )


def _files(folder: Path) -> dict[str, Path]:
    return {
        "RECAST_C2PA_CERT": folder / "chain.pem",
        "RECAST_C2PA_KEY": folder / "key.pem",
        "RECAST_C2PA_ANCHOR": folder / "anchor.pem",
    }


def save(identity: SigningIdentity, folder: Path) -> dict[str, str]:
    """Write the identity as PEM files (key readable by the owner only); returns the env to use."""
    folder.mkdir(parents=True, exist_ok=True)
    files = _files(folder)
    files["RECAST_C2PA_CERT"].write_bytes(identity.chain_pem)
    files["RECAST_C2PA_KEY"].touch(mode=0o600)
    files["RECAST_C2PA_KEY"].write_bytes(identity.key_pem)
    if identity.anchor_pem:
        files["RECAST_C2PA_ANCHOR"].write_bytes(identity.anchor_pem)
    return {name: str(path) for name, path in files.items() if path.exists()}


def development_env(folder: Path) -> dict[str, str]:
    """The env of the development identity kept in `folder`, made on first use."""
    files = _files(folder)
    if all(path.exists() for path in files.values()):
        return {name: str(path) for name, path in files.items()}
    return save(development_identity(days=365), folder)
