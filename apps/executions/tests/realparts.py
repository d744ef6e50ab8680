"""Real servers for the git, ansible and docker step tests: sshd, podman's Docker API, a registry, git repos.

Each runs as a subprocess in its own process group on 127.0.0.1 or a unix socket under a temporary
directory, and is stopped by pid.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ansflow.testing import ManagedProcess, free_port, output_dir, wait_until

SSHD = "/usr/sbin/sshd"
SSH_PORT = 2222


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def keygen(path: Path, passphrase: str = "") -> str:
    """A fresh ed25519 key pair; returns the private key text."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "ansflow-test", "-f", str(path)], check=True
    )
    return path.read_text()


_TEST_USER = re.compile(r"^ansflow-[lb](\d+)$")


@dataclass
class TestUser:
    """A throwaway local account with a random password, made for one test session and deleted after it."""

    name: str
    password: str = field(default_factory=lambda: "pw-" + secrets.token_urlsafe(18))

    @property
    def home(self) -> Path:
        return Path(pwd.getpwnam(self.name).pw_dir)

    def create(self) -> None:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", self.name], check=True, capture_output=True)
        # chpasswd reads the password on stdin, so it never shows in a process list.
        subprocess.run(["chpasswd"], input=f"{self.name}:{self.password}\n", text=True, check=True)

    def delete(self) -> None:
        # --force: an ssh session that a ControlPersist master keeps open may still belong to the account.
        subprocess.run(["userdel", "--force", "--remove", self.name], check=False, capture_output=True)


def _remove_stale_test_users() -> None:
    """Accounts a killed test session left behind (their session's pid is gone)."""
    for entry in pwd.getpwall():
        found = _TEST_USER.match(entry.pw_name)
        if found and not os.path.exists(f"/proc/{found.group(1)}"):
            TestUser(entry.pw_name).delete()


@dataclass
class SshServer:
    """sshd on 127.0.0.1 (port 2222 when free) letting root in with a throwaway key, and ``login`` (a local
    account of this session) with its password. ``become`` is a second account that ``login`` can ``su`` to
    with that account's password. sshd runs without PAM: it checks passwords against /etc/shadow itself."""

    directory: Path
    port: int = 0
    process: ManagedProcess | None = None
    private_key: str = ""
    encrypted_key: str = ""
    passphrase: str = "correct horse battery"
    host_key_line: str = ""
    login: TestUser = field(default_factory=lambda: TestUser(f"ansflow-l{os.getpid()}"))
    become: TestUser = field(default_factory=lambda: TestUser(f"ansflow-b{os.getpid()}"))

    def start(self) -> None:
        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        _remove_stale_test_users()
        for user in (self.login, self.become):
            user.delete()
            user.create()
        keygen(d / "host_key")
        self.private_key = keygen(d / "client_key")
        self.encrypted_key = keygen(d / "client_key_enc", self.passphrase)
        (d / "authorized_keys").write_text((d / "client_key.pub").read_text() + (d / "client_key_enc.pub").read_text())
        self.port = SSH_PORT if _port_free(SSH_PORT) else free_port()
        host_pub = (d / "host_key.pub").read_text().split()
        self.host_key_line = f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n"
        (d / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nPidFile {d / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            "AcceptEnv LANG LC_*\nSubsystem sftp internal-sftp\n"
            # Passwords only for the session's own test account; root and everyone else stay key-only.
            f"Match User {self.login.name}\n  PasswordAuthentication yes\n"
        )
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            "sshd", [SSHD, "-D", "-e", "-f", str(d / "sshd_config")], dict(os.environ), output_dir() / "sshd.log"
        )
        self.process.start()
        wait_until(lambda: self._ready(), timeout=20, message=f"sshd answers on 127.0.0.1:{self.port}")

    def _ready(self) -> bool:
        assert self.process is not None
        if not self.process.alive():
            raise AssertionError(f"sshd exited:\n{self.process.output()[-2000:]}")
        return _answers(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        for user in (self.login, self.become):
            user.delete()


def make_repository(directory: Path) -> dict[str, str]:
    """A bare repository with two commits on main, a tag v1 on the first and a branch `feature`.

    Returns the commit ids by name (first, second, feature).
    """
    work, bare = directory / "work", directory / "repo.git"
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip

    def git(*argv: str) -> str:
        return subprocess.run(
            ["git", "-C", str(work), *argv], env=env, check=True, capture_output=True, text=True
        ).stdout

    work.mkdir(parents=True)
    git("init", "-q", "-b", "main")
    (work / "README").write_text("first\n")
    (work / "site.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: say where\n      ansible.builtin.command: echo from-git-playbook {{ inventory_hostname }}\n"
    )
    git("add", ".")
    git("commit", "-q", "-m", "first")
    first = git("rev-parse", "HEAD").strip()
    git("tag", "v1")
    (work / "README").write_text("second\n")
    git("commit", "-q", "-am", "second")
    second = git("rev-parse", "HEAD").strip()
    git("checkout", "-q", "-b", "feature")
    (work / "FEATURE").write_text("feature\n")
    git("add", "FEATURE")
    git("commit", "-q", "-m", "feature")
    feature = git("rev-parse", "HEAD").strip()
    git("checkout", "-q", "main")
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], env=env, check=True)
    subprocess.run(["git", "-C", str(bare), "config", "uploadpack.allowAnySHA1InWant", "true"], env=env, check=True)
    return {"first": first, "second": second, "feature": feature, "path": str(bare)}


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


PODMAN_BRIDGE = "cni-podman0"  # created by podman's default network on first use
TEST_IMAGE_PREFIXES = ("ansflow-test/", "ansflow-demo/")
CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
"""


@dataclass
class DockerParts:
    """podman's Docker-compatible API on a unix socket and a registry with basic auth on 127.0.0.1.

    The registry is marked insecure (plain HTTP) in the podman service's registries.conf, as an operator
    would configure a Docker host for a local registry.
    """

    directory: Path
    registry_port: int = 0
    username: str = "ci"
    password: str = "push-Pa55word"
    podman: ManagedProcess | None = None
    registry: ManagedProcess | None = None
    had_bridge: bool = False

    @property
    def socket(self) -> Path:
        return self.directory / "podman.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def registry_host(self) -> str:
        return f"127.0.0.1:{self.registry_port}"

    def start(self) -> None:
        import bcrypt

        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        self.registry_port = free_port()
        self.had_bridge = Path(f"/sys/class/net/{PODMAN_BRIDGE}").exists()
        (d / "containers.conf").write_text(CONTAINERS_CONF)
        (d / "registries.conf").write_text(
            f'unqualified-search-registries = []\n[[registry]]\nlocation = "{self.registry_host}"\ninsecure = true\n'
        )
        hashed = bcrypt.hashpw(self.password.encode(), bcrypt.gensalt(rounds=4)).decode()
        (d / "htpasswd").write_text(f"{self.username}:{hashed}\n")
        (d / "registry.yml").write_text(
            f"version: 0.1\nlog: {{level: warn}}\nstorage:\n  filesystem: {{rootdirectory: {d / 'registry'}}}\n"
            f"  delete: {{enabled: true}}\nhttp:\n  addr: {self.registry_host}\n  secret: ansflow-test\n"
            f"auth:\n  htpasswd: {{realm: ansflow-test, path: {d / 'htpasswd'}}}\n"
        )
        env = {**os.environ, "CONTAINERS_CONF": str(d / "containers.conf"),
               "CONTAINERS_REGISTRIES_CONF": str(d / "registries.conf")}  # fmt: skip
        self.podman = ManagedProcess(
            "podman", ["podman", "system", "service", "--time=0", self.url], env, output_dir() / "podman.log"
        )
        self.registry = ManagedProcess(
            "registry", ["docker-registry", "serve", str(d / "registry.yml")], dict(os.environ),
            output_dir() / "registry.log",
        )  # fmt: skip
        self.podman.start()
        self.registry.start()
        wait_until(lambda: self._alive() and self.socket.exists(), timeout=30, message="podman serves its socket")
        wait_until(lambda: self._alive() and _answers(self.registry_port), timeout=30, message="registry answers")

    def _alive(self) -> bool:
        for part in (self.podman, self.registry):
            assert part is not None
            if not part.alive():
                raise AssertionError(f"{part.name} exited:\n{part.output()[-2000:]}")
        return True

    def stop(self) -> None:
        try:
            if self.podman is not None and self.podman.alive() and self.socket.exists():
                self._remove_test_images()
        finally:
            for part in (self.podman, self.registry):
                if part is not None:
                    part.stop()
        if not self.had_bridge and Path(f"/sys/class/net/{PODMAN_BRIDGE}").exists():
            subprocess.run(["ip", "link", "delete", PODMAN_BRIDGE], check=False, capture_output=True)

    def _remove_test_images(self) -> None:
        """The images the tests built live in the host's podman storage: remove them."""
        import docker

        client = docker.DockerClient(base_url=self.url)
        try:
            for image in client.images.list():
                if any(tag.split("/", 1)[-1].startswith(TEST_IMAGE_PREFIXES) for tag in image.tags):
                    client.images.remove(image.id, force=True)
        finally:
            client.close()


def busybox_context(directory: Path, extra: str = "") -> Path:
    """A build context for an image FROM scratch with busybox-static as its userland."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy("/bin/busybox", directory / "busybox")
    (directory / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n' + extra
    )
    return directory
