"""The Docker SDK client factory: one place that turns a DockerHost row into a connected client."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker
from docker.errors import DockerException
from docker.tls import TLSConfig

from apps.accounts.services import credential_secrets

from .models import DockerHost


class DockerUnavailable(Exception):
    """The Engine API could not be reached or refused us; the message says why, without secrets."""


class _EngineAPI(docker.APIClient):
    """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace a session's CA file (and turn a switched-off
    check back on): a Docker host's own TLS settings must win over the worker's environment."""

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and (self.verify is False or isinstance(self.verify, str)):
            merged["verify"] = self.verify
        return merged


class _Client(docker.DockerClient):
    def __init__(self, **kwargs: Any) -> None:  # docker.DockerClient's, with the API client above
        self.api = _EngineAPI(**kwargs)


@contextmanager
def docker_client(host: DockerHost, *, timeout: float = 60) -> Iterator[docker.DockerClient]:
    """A client for ``host``; TLS material lives in a private temporary directory while the client is open."""
    private = Path(tempfile.mkdtemp(prefix="ansflow-docker-"))
    try:
        tls: TLSConfig | bool = False
        if host.tls:
            tls = _tls_config(host, private)
        try:
            client = _Client(base_url=host.url, tls=tls, timeout=int(timeout))
            client.ping()
        except DockerException as exc:
            raise DockerUnavailable(_unavailable(host, str(exc))) from exc
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


_VERIFY_DETAIL = re.compile(r"certificate verify failed: (.*?) \(_ssl")


def _unavailable(host: DockerHost, error: str) -> str:
    """Why ``host`` cannot be used, saying what to fix for the TLS failures an operator can fix."""
    where = f"Docker host {host.name} ({host.url})"
    if "CERTIFICATE_VERIFY_FAILED" in error:
        found = _VERIFY_DETAIL.search(error)
        detail = f" ({found.group(1)})" if found else ""
        return f"{where}: its TLS certificate is not trusted{detail}; check the host's CA certificate"
    if "ALERT_BAD_CERTIFICATE" in error or "ALERT_CERTIFICATE_REQUIRED" in error:
        if not (host.tls_client_cert and host.tls_client_key_id):
            return f"{where}: the server wants a TLS client certificate; set the host's client certificate and key"
        return f"{where}: the server refused the client certificate; it must be signed by a CA the server trusts"
    if "Client sent an HTTP request to an HTTPS server" in error:
        return f"{where}: the server speaks TLS; switch TLS on for this Docker host"
    return f"{where} does not answer: {_reason(host, error)}"


# What the layers under the Docker SDK (requests, urllib3, the socket) say, and how to say it to a person.
_REASONS = (
    ("Connection refused", "connection refused; is the Docker daemon listening there?"),
    ("Name or service not known", "its host name does not resolve"),
    ("Temporary failure in name resolution", "its host name does not resolve"),
    ("No route to host", "no route to the host"),
    ("Network is unreachable", "the network is unreachable"),
    ("timed out", "the connection timed out"),
    ("Permission denied", "permission denied on the socket"),
)


def _reason(host: DockerHost, error: str) -> str:
    if "FileNotFoundError" in error and host.url.startswith("unix://"):
        return f"no socket at {host.url.removeprefix('unix://')}"
    for found, reason in _REASONS:
        if found in error:
            return reason
    return error
