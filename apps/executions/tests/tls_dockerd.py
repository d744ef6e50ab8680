"""Debian's dockerd serving the Engine API on tcp://127.0.0.1 with TLS client certificates (``--tlsverify``),
as an operator exposes a remote Docker host, plus the certificates: a CA that signed the server's and the
client's, and a second CA that signed only a client certificate this server refuses.

dockerd runs with its own data and exec roots under a temporary directory, starts its own containerd there,
creates no bridge and touches no iptables; containers use the host or no network. It is stopped by pid.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import docker
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansflow.testing import ManagedProcess, free_port, output_dir, wait_until

DOCKERD = "/usr/sbin/dockerd"
API_VERSION = "1.41"  # Debian bookworm's dockerd 20.10


@dataclass
class Issued:
    """A PEM certificate and its PEM private key (and both as objects, to sign others with)."""

    cert: str
    key: str
    signing_key: ec.EllipticCurvePrivateKey = field(repr=False)
    subject: x509.Name = field(repr=False)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _certificate(
    subject: str, issuer: Issued | None, *, ca: bool = False, server: bool = False, client: bool = False
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    if server or client:
        usage = [ExtendedKeyUsageOID.SERVER_AUTH] if server else [ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    cert = builder.sign(issuer.signing_key if issuer else key, hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key), key, name)


@dataclass
class TlsDockerd:
    """dockerd on ``url`` (tcp://127.0.0.1:<port>) that answers only clients with a certificate from ``ca``."""

    directory: Path
    port: int = 0
    process: ManagedProcess | None = None
    ca: Issued | None = None
    issued_client: Issued | None = None
    other_ca: Issued | None = None
    foreign_client: Issued | None = None  # signed by ``other_ca``: the server refuses it

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def start(self) -> None:
        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        self.ca = _certificate("ansflow test CA", None, ca=True)
        self.other_ca = _certificate("some other CA", None, ca=True)
        server = _certificate("127.0.0.1", self.ca, server=True)
        self.issued_client = _certificate("ansflow test client", self.ca, client=True)
        self.foreign_client = _certificate("someone else", self.other_ca, client=True)
        for name, text in (("ca.pem", self.ca.cert), ("server.pem", server.cert), ("server-key.pem", server.key)):
            (d / name).write_text(text)
        (d / "daemon.json").write_text("{}\n")
        self.port = free_port()
        argv = [
            DOCKERD, "--config-file", str(d / "daemon.json"),
            "--data-root", str(d / "data"), "--exec-root", str(d / "exec"), "--pidfile", str(d / "dockerd.pid"),
            "-H", self.url, "--tlsverify", "--tlscacert", str(d / "ca.pem"),
            "--tlscert", str(d / "server.pem"), "--tlskey", str(d / "server-key.pem"),
            "--bridge=none", "--iptables=false", "--ip-forward=false", "--ip-masq=false",
        ]  # fmt: skip
        self.process = ManagedProcess("dockerd", argv, dict(os.environ), output_dir() / "dockerd.log")
        self.process.start()
        wait_until(self._ready, timeout=60, message=f"dockerd answers with TLS on {self.url}")

    def client(self, directory: Path) -> docker.DockerClient:
        """A Docker SDK client with the test CA and client certificate, made without AnsFlow's code."""
        assert self.ca is not None
        assert self.issued_client is not None
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in (("ca.pem", self.ca.cert), ("cert.pem", self.issued_client.cert)):
            (directory / name).write_text(text)
        (directory / "key.pem").touch(mode=0o600)
        (directory / "key.pem").write_text(self.issued_client.key)
        tls = docker.tls.TLSConfig(
            client_cert=(str(directory / "cert.pem"), str(directory / "key.pem")),
            ca_cert=str(directory / "ca.pem"),
            verify=True,
        )
        # A fixed API version: no request before trust_env is off, so the test CA is used, not REQUESTS_CA_BUNDLE.
        client = docker.DockerClient(base_url=self.url, tls=tls, version=API_VERSION)
        client.api.trust_env = False
        return client

    def _ready(self) -> bool:
        assert self.process is not None
        if not self.process.alive():
            raise AssertionError(f"dockerd exited:\n{self.process.output()[-3000:]}")
        client = self.client(self.directory / "client")
        try:
            return bool(client.ping())
        except (docker.errors.DockerException, requests.RequestException):
            return False
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=30)
        shutil.rmtree(self.directory / "data", ignore_errors=True)
        shutil.rmtree(self.directory / "exec", ignore_errors=True)
