"""Throw-away TLS material for local TLS services and their tests: a CA and certificates it signs,
made with the ``openssl`` command (EC P-256 keys, 2 days).

Never for production: the keys are unencrypted files (the PKCS#12 keystore Kafka reads has a password
only because Java requires one).
"""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import InfraError
from stream_app.devtools.infra import procs

DAYS = "2"


@dataclass(frozen=True)
class CertFiles:
    cert: Path
    key: Path


def _openssl(*args: str) -> None:
    exe = procs.require("openssl", "install openssl (Debian: apt-get install openssl)")
    res = subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, check=False)
    if res.returncode != 0:
        raise InfraError(f"openssl {args[0]} failed: {(res.stdout + res.stderr).strip()[-800:]}")


def make_ca(directory: Path, name: str = "kilowatch test CA") -> CertFiles:
    """A self-signed CA (``<name>`` as its subject) in ``directory``/ca.pem and ca.key."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = CertFiles(directory / "ca.pem", directory / "ca.key")
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(ca.key), "-out", str(ca.cert), "-days", DAYS, "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return ca


def make_cert(directory: Path, ca: CertFiles, name: str, hosts: list[str]) -> CertFiles:
    """A server/client certificate for ``hosts`` (DNS names or IP addresses, in subjectAltName)
    signed by ``ca``: ``directory``/<name>.pem and <name>.key."""
    directory.mkdir(parents=True, exist_ok=True)
    out = CertFiles(directory / f"{name}.pem", directory / f"{name}.key")
    csr = directory / f"{name}.csr"
    ext = directory / f"{name}.ext"
    sans = []
    for h in hosts:
        try:
            ipaddress.ip_address(h)
            sans.append(f"IP:{h}")
        except ValueError:
            sans.append(f"DNS:{h}")
    ext.write_text(
        f"subjectAltName={','.join(sans)}\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n"
    )
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(out.key), "-out", str(csr), "-subj", f"/CN={hosts[0] if hosts else name}",
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key), "-CAcreateserial",
        "-out", str(out.cert), "-days", DAYS, "-extfile", str(ext),
    )  # fmt: skip
    csr.unlink()
    out.key.chmod(0o600)
    return out


def pkcs12(cert: CertFiles, ca: CertFiles, out: Path, password: str) -> Path:
    """A PKCS#12 keystore (key, certificate and the CA) for Java servers such as the Kafka broker."""
    _openssl(
        "pkcs12", "-export", "-in", str(cert.cert), "-inkey", str(cert.key), "-certfile", str(ca.cert),
        "-out", str(out), "-passout", f"pass:{password}", "-name", "server",
    )  # fmt: skip
    return out
