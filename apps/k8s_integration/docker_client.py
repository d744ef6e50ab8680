"""The Docker SDK client factory: one place that turns a DockerHost row into a connected client."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
from docker.errors import DockerException
from docker.tls import TLSConfig

from apps.accounts.services import credential_secrets

from .models import DockerHost


class DockerUnavailable(Exception):
    """The Engine API could not be reached or refused us; the message says why, without secrets."""


@contextmanager
def docker_client(host: DockerHost, *, timeout: float = 60) -> Iterator[docker.DockerClient]:
    """A client for ``host``; TLS material lives in a private temporary directory while the client is open."""
    private = Path(tempfile.mkdtemp(prefix="ansflow-docker-"))
    try:
        tls: TLSConfig | bool = False
        if host.tls:
            tls = _tls_config(host, private)
        try:
            client = docker.DockerClient(base_url=host.url, tls=tls, timeout=int(timeout))
            client.ping()
        except DockerException as exc:
            raise DockerUnavailable(f"Docker host {host.name} ({host.url}) does not answer: {exc}") from exc
        try:
            yield client
        finally:
            client.close()
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _tls_config(host: DockerHost, private: Path) -> TLSConfig:
    ca = cert = None
    if host.tls_ca_cert:
        ca = private / "ca.pem"
        ca.write_text(host.tls_ca_cert)
    if host.tls_client_cert and host.tls_client_key is not None:
        cert_file, key_file = private / "cert.pem", private / "key.pem"
        cert_file.write_text(host.tls_client_cert)
        key_file.touch(mode=0o600)
        key_file.write_text(credential_secrets(credential=host.tls_client_key).get("secret", ""))
        cert = (str(cert_file), str(key_file))
    return TLSConfig(client_cert=cert, ca_cert=str(ca) if ca else None, verify=host.tls_verify)
