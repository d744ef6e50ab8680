"""Fixtures of real servers for the git, ansible and docker step tests (see ``realparts``)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from .git_http import GitHttpServer
from .realparts import DockerParts, SshServer, make_repository
from .tls_dockerd import TlsDockerd


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """A real sshd on 127.0.0.1 that lets root in with ``private_key`` (or ``encrypted_key`` + ``passphrase``)
    and the session's test account ``login`` with its password (``become`` is a second account to su to)."""
    server = SshServer(tmp_path_factory.mktemp("sshd"))
    try:  # a start that fails half-way stops what it did start
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def git_repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A bare repository on disk: ``path`` and the commit ids ``first`` (tag v1), ``second`` (main), ``feature``."""
    return make_repository(Path(tmp_path_factory.mktemp("git")))


@pytest.fixture(scope="session")
def git_http(git_repo: dict[str, str]) -> Iterator[GitHttpServer]:
    """``git_repo`` served over smart HTTP at ``url + "/repo.git"``; basic auth with ``token`` as the password."""
    server = GitHttpServer(Path(git_repo["path"]).parent, token="tok-" + secrets.token_hex(16))
    try:  # a start that fails half-way stops what it did start
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def docker_parts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerParts]:
    """podman's Docker API on a unix socket plus a registry (basic auth) on 127.0.0.1."""
    parts = DockerParts(tmp_path_factory.mktemp("docker"))
    try:  # a start that fails half-way stops what it did start
        parts.start()
        yield parts
    finally:
        parts.stop()


@pytest.fixture(scope="session")
def tls_dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsDockerd]:
    """Debian's dockerd on tcp://127.0.0.1:<port> with ``--tlsverify``, and its CA and client certificates."""
    server = TlsDockerd(tmp_path_factory.mktemp("dockerd"))
    try:  # a start that fails half-way stops what it did start
        server.start()
        yield server
    finally:
        server.stop()
