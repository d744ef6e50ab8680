"""The Kubernetes client factory: one place that turns a Cluster row into a client acting as its credential.

A client is built from the cluster's own server, CA bundle and credential, never from the server's ambient
kubeconfig or in-cluster service account. Certificate and key material lives in a private temporary
directory while the client is open. Errors become :class:`ClusterError` with a message that names the cause
(unreachable, TLS, unauthorized, forbidden, the server's own validation message) and never a secret.
"""

from __future__ import annotations

import json
import re
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
import yaml
from cryptography import x509
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from apps.accounts.choices import CredentialKind
from apps.accounts.services import credential_secrets

from ..models import Cluster

CLUSTER_CREDENTIAL_KINDS = (CredentialKind.BEARER_TOKEN, CredentialKind.CLIENT_CERTIFICATE, CredentialKind.KUBECONFIG)


class ClusterError(Exception):
    """A cluster could not be reached or refused a request; ``status`` is the HTTP status when it answered."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    """Who a client acts as, in words for logs and the cluster page (no secret in it)."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


@contextmanager
def kube_client(cluster: Cluster) -> Iterator[k8s.ApiClient]:
    """An ApiClient for ``cluster``; closed, and its key material deleted, on exit."""
    private = Path(tempfile.mkdtemp(prefix="ansflow-kube-"))
    try:
        api = k8s.ApiClient(_configuration(cluster, private))
        try:
            yield api
        finally:
            api.close()
    finally:
        shutil.rmtree(private, ignore_errors=True)


def cluster_identity(cluster: Cluster) -> Identity:
    """The identity the cluster's credential stands for: the credential, and for a certificate its subject."""
    credential = cluster.credential
    if credential.kind == CredentialKind.CLIENT_CERTIFICATE:
        try:
            cert = x509.load_pem_x509_certificate(credential.public_fields.get("certificate", "").encode())
            return Identity("client certificate", cert.subject.rfc4514_string())
        except ValueError:
            return Identity("client certificate", f"credential {credential.name}")
    if credential.kind == CredentialKind.KUBECONFIG:
        return Identity("kubeconfig", f"credential {credential.name}")
    return Identity("bearer token", f"credential {credential.name}")


def _write(private: Path, name: str, text: str) -> str:
    path = private / name
    path.touch(mode=0o600)
    path.write_text(text)
    return str(path)


def _configuration(cluster: Cluster, private: Path) -> k8s.Configuration:
    credential = cluster.credential
    if credential.kind not in CLUSTER_CREDENTIAL_KINDS:
        raise ClusterError(f"Cluster {cluster.name}: credential {credential.name} is a {credential.kind}, not usable.")
    fields = credential_secrets(credential=credential)
    config = k8s.Configuration()
    server, ca = cluster.server, cluster.ca_bundle
    if credential.kind == CredentialKind.KUBECONFIG:
        server, ca = _from_kubeconfig(cluster, fields.get("kubeconfig", ""), config, private, server, ca)
    elif credential.kind == CredentialKind.BEARER_TOKEN:
        config.api_key = {"authorization": f"Bearer {fields['token'].strip()}"}
    else:
        config.cert_file = _write(private, "client.crt", fields["certificate"])
        config.key_file = _write(private, "client.key", fields["key"])
    if not server:
        raise ClusterError(f"Cluster {cluster.name} has no API server URL.")
    config.host = server.rstrip("/")
    if ca:
        config.ssl_ca_cert = _write(private, "ca.crt", ca)
    config.verify_ssl = True
    config.proxy = None
    config.retries = False
    return config


def kubeconfig_context(cluster: Cluster, text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The cluster entry (server, CA data) and the user of a kubeconfig's current context (or its first)."""
    try:
        document = yaml.safe_load(text) or {}
        contexts = {item["name"]: item["context"] for item in document.get("contexts") or []}
        context = contexts[document.get("current-context") or next(iter(contexts))]
        entry = {item["name"]: item["cluster"] for item in document["clusters"]}[context["cluster"]]
        user = {item["name"]: item.get("user") or {} for item in document.get("users") or []}.get(context.get("user"))
    except (yaml.YAMLError, KeyError, TypeError, StopIteration, AttributeError) as exc:
        raise ClusterError(f"Cluster {cluster.name}: the kubeconfig has no usable current context ({exc}).") from exc
    return dict(entry or {}), dict(user or {})


def _from_kubeconfig(
    cluster: Cluster, text: str, config: k8s.Configuration, private: Path, server: str, ca: str
) -> tuple[str, str]:
    """Fills ``config`` from the kubeconfig's current context: server, CA and user (token or certificate)."""
    import base64

    entry, user = kubeconfig_context(cluster, text)
    server = server or entry.get("server", "")
    if not ca and entry.get("certificate-authority-data"):
        ca = base64.b64decode(entry["certificate-authority-data"]).decode()
    if user.get("token"):
        config.api_key = {"authorization": f"Bearer {user['token']}"}
    elif user.get("client-certificate-data") and user.get("client-key-data"):
        config.cert_file = _write(private, "client.crt", base64.b64decode(user["client-certificate-data"]).decode())
        config.key_file = _write(private, "client.key", base64.b64decode(user["client-key-data"]).decode())
    else:
        raise ClusterError(
            f"Cluster {cluster.name}: the kubeconfig's user needs a token or embedded client certificate data "
            "(exec plugins, auth providers and file paths are not used)."
        )
    return server, ca


def describe(exc: BaseException, cluster: Cluster) -> ClusterError:
    """A ClusterError whose message names the cause of ``exc``, for a page, an API answer or a step log."""
    if isinstance(exc, ClusterError):
        return exc
    where = f"cluster {cluster.name} ({cluster.server or 'kubeconfig server'})"
    if isinstance(exc, ApiException) and not exc.status:
        # The client wraps a TLS failure as ApiException(status=0, reason="SSLError\n<what failed>").
        kind, _, text = str(exc.reason or "").partition("\n")
        if "SSL" in kind:
            return ClusterError(f"{where}: TLS verification failed: {text.strip()}")
        return ClusterError(f"{where}: {exc.reason}")
    if isinstance(exc, ApiException):
        message = _server_message(exc)
        if exc.status == 401:
            message = "unauthorized: the credential was rejected"
            return ClusterError(f"{where}: {message}", status=401, reason="Unauthorized")
        if exc.status == 403:
            return ClusterError(f"{where}: forbidden: {message}", status=403, reason="Forbidden")
        return ClusterError(f"{where} answered {exc.status}: {message}", status=exc.status, reason=str(exc.reason))
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, (urllib3.exceptions.SSLError, ssl.SSLError)):
        return ClusterError(f"{where}: TLS verification failed: {_short(exc)}")
    if isinstance(exc, (urllib3.exceptions.HTTPError, OSError)):
        return ClusterError(f"{where} is unreachable: {_short(exc)}")
    return ClusterError(f"{where}: {exc}")


def _server_message(exc: ApiException) -> str:
    try:
        body: Any = json.loads(exc.body or "")
        return str(body.get("message") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason)


def _short(exc: BaseException) -> str:
    """The reason without urllib3's object reprs: "Connection refused", "certificate verify failed: ..."."""
    text = str(exc)
    if ">: " in text:
        text = text.split(">: ", 1)[1]
    text = re.sub(r"^\w*Connection\(host=[^)]*\): ", "", text)  # urllib3 2 names the connection first
    return text.removeprefix("Failed to establish a new connection: ")


def call(cluster: Cluster, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` with every failure turned into a :class:`ClusterError` naming its cause."""
    kwargs.setdefault("_request_timeout", 30)
    try:
        return fn(*args, **kwargs)
    except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise describe(exc, cluster) from exc
