"""A real Kubernetes v1.20 cluster for tests: etcd, the control plane, containerd and a kubelet.

Every part runs as a subprocess in its own process group, listens on 127.0.0.1 (free ports) or on unix
sockets under a private temporary directory, and is stopped by pid in reverse order. Credentials are made
for each cluster: a token for an admin (system:masters), a token for a viewer bound only to the built-in
``view`` ClusterRole in namespace ``default``, and a client certificate in system:masters. Clients are
built from these values only, never from ~/.kube or the environment.

Pods run with ``hostNetwork: true`` and ``imagePullPolicy: Never`` on the one node, ``localhost``, from the
images ``localhost/busybox:ansflow`` (busybox-static FROM scratch) and the pause image built with podman.
The binaries come from ``make k8s-cluster`` (see ``missing_binaries``).
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from ansflow.testing import ManagedProcess, free_port, output_dir, wait_until

from . import kubeparts
from .kubepki import KeyPair, issue, new_ca, service_account_keys

BUSYBOX_IMAGE = kubeparts.BUSYBOX_IMAGE
NODE_NAME = "localhost"
CACHE_DIR = Path(os.environ.get("ANSFLOW_K8S_CACHE", Path.home() / ".cache/ansflow/k8s-1.20.2"))
K8S_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet")
HOST_BINARIES = ("etcd", "containerd", "ctr", "runc", "podman", "unshare", "nsenter", "umount")
HELM = Path(__file__).resolve().parents[3] / ".venv" / "tools" / "helm"
VIEWER = "ansflow-viewer"
CONTROLLERS = "*,-nodeipam,-service,-route,-attachdetach,-persistentvolume-binder,-persistentvolume-expander,-cloud-node-lifecycle"  # noqa: E501


def missing_binaries() -> list[str]:
    """What ``make k8s-cluster`` provides and is not there (empty when the cluster can start)."""
    missing = [str(CACHE_DIR / "bin" / name) for name in K8S_BINARIES if not (CACHE_DIR / "bin" / name).is_file()]
    missing += [name for name in HOST_BINARIES if shutil.which(name) is None]
    if not Path(kubeparts.CNI_BIN_DIR, "loopback").is_file():
        missing.append(f"{kubeparts.CNI_BIN_DIR}/loopback")
    if not Path("/bin/busybox").is_file():
        missing.append("/bin/busybox")
    if not HELM.is_file():
        missing.append(str(HELM))
    return missing


@dataclass
class KubeCluster:
    """One running cluster. ``start()`` returns when the API answers /readyz, the node is Ready and schedulable
    and namespace ``default`` has its service account; ``stop()`` leaves no process or mount behind."""

    directory: Path
    bin_dir: Path = CACHE_DIR / "bin"
    helm: str = str(HELM)
    busybox_image: str = BUSYBOX_IMAGE
    server: str = ""
    ca_pem: str = ""
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    viewer_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    client_cert_pem: str = ""
    client_key_pem: str = ""
    processes: list[ManagedProcess] = field(default_factory=list)

    @classmethod
    def create(cls) -> KubeCluster:
        # Short path: unix sockets (containerd's) must stay under ~100 characters.
        return cls(Path(tempfile.mkdtemp(prefix="ansflow-k8s-")))

    # -- what tests use ---------------------------------------------------------------------------------

    @property
    def ca_file(self) -> Path:
        return self.directory / "pki" / "ca.crt"

    def kubeconfig(self, token: str | None = None, *, client_cert: bool = False, namespace: str = "default") -> str:
        """Kubeconfig YAML for ``token`` (default: the admin's), or for the client-certificate user."""
        if client_cert:
            user = {"client-certificate-data": _b64(self.client_cert_pem), "client-key-data": _b64(self.client_key_pem)}
        else:
            user = {"token": token if token is not None else self.admin_token}
        return yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": "ansflow-test",
            "clusters": [{"name": "ansflow-test",
                          "cluster": {"server": self.server, "certificate-authority-data": _b64(self.ca_pem)}}],
            "users": [{"name": "ansflow-test", "user": user}],
            "contexts": [{"name": "ansflow-test",
                          "context": {"cluster": "ansflow-test", "user": "ansflow-test", "namespace": namespace}}],
        })  # fmt: skip

    def api_client(self, token: str | None = None, *, client_cert: bool = False) -> client.ApiClient:
        """A client for this cluster with ``token`` (default: the admin's) or the client certificate."""
        config = client.Configuration()
        config.host = self.server
        config.ssl_ca_cert = str(self.ca_file)
        config.verify_ssl = True
        if client_cert:
            config.cert_file = str(self.directory / "pki" / "client-admin.crt")
            config.key_file = str(self.directory / "pki" / "client-admin.key")
        else:
            config.api_key = {"BearerToken": token if token is not None else self.admin_token}
            config.api_key_prefix = {"BearerToken": "Bearer"}
        return client.ApiClient(config)

    def admin_api(self) -> client.ApiClient:
        return self.api_client(self.admin_token)

    def namespace(self, prefix: str) -> str:
        """Create a fresh namespace ``<prefix>-<random>``; returns its name once pods can be created in it
        (its ``default`` service account has its token secret)."""
        name = f"{prefix}-{secrets.token_hex(3)}"
        with self.admin_api() as api:
            client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
            self._wait_service_account(api, name)
        return name

    def delete_namespace(self, name: str) -> None:
        """Ask for the namespace's deletion (the namespace controller finishes it in the background)."""
        with self.admin_api() as api:
            try:
                client.CoreV1Api(api).delete_namespace(name)
            except ApiException as error:
                if error.status != 404:
                    raise

    # -- start ------------------------------------------------------------------------------------------

    def start(self) -> None:
        d = self.directory
        for sub in ("pki", "etcd", "kubelet", "images", "apiserver", "var-log"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        etcd_port, etcd_peer, api_port, kubelet_port = (free_port() for _ in range(4))
        self.server = f"https://127.0.0.1:{api_port}"
        self._write_credentials()
        self._spawn_api(etcd_port, etcd_peer, api_port)
        socket_path = self._spawn_node(kubelet_port)
        # podman builds the images while the API server and the kubelet start up.
        kubeparts.import_images(socket_path, kubeparts.build_images(d / "images"))
        self._wait_api()
        # Only now: the controller manager exits when the API is not healthy within seconds of its start.
        self._spawn_controllers()
        self._wait_ready()

    def _spawn_api(self, etcd_port: int, etcd_peer: int, api_port: int) -> None:
        d = self.directory
        etcd_url, peer_url = f"http://127.0.0.1:{etcd_port}", f"http://127.0.0.1:{etcd_peer}"
        self._spawn("etcd", [
            "etcd", "--name", "ansflow", "--data-dir", str(d / "etcd"),
            "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"ansflow={peer_url}",
        ])  # fmt: skip
        self._spawn("kube-apiserver", self._apiserver_argv(etcd_url, api_port))

    def _spawn_controllers(self) -> None:
        d, pki = self.directory, self.directory / "pki"
        self._spawn("kube-controller-manager", [
            self._bin("kube-controller-manager"), "--kubeconfig", str(d / "controller-manager.kubeconfig"),
            "--secure-port=0", "--port=0", "--leader-elect=false", f"--controllers={CONTROLLERS}",
            # The node-lifecycle controller lifts the not-ready taint on its next pass: look every second.
            "--node-monitor-period=1s",
            f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
        ])  # fmt: skip
        self._spawn("kube-scheduler", [
            self._bin("kube-scheduler"), "--kubeconfig", str(d / "scheduler.kubeconfig"),
            "--secure-port=0", "--port=0", "--leader-elect=false",
        ])  # fmt: skip

    def _spawn_node(self, kubelet_port: int) -> Path:
        """containerd and the kubelet; returns containerd's socket.

        They share a private mount namespace whose /var/log is the cluster's own: the kubelet writes pod logs
        to /var/log/pods whatever its root directory, and every mount they and the shims make (rootfs, shm,
        secret volumes) goes away with the namespace's last process.
        """
        d = self.directory
        config = kubeparts.write_containerd_files(d / "containerd")
        socket_path = d / "containerd" / "containerd.sock"
        self._spawn("containerd", [
            "unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
            'mount --bind "$1" /var/log && exec containerd --config "$2"', "sh", str(d / "var-log"), str(config),
        ])  # fmt: skip
        wait_until(lambda: self._alive() and _unix_answers(socket_path), timeout=60, message="containerd's socket")
        holder = self.processes[-1].pid
        self._spawn("kubelet", ["nsenter", f"--target={holder}", "--mount", "--",
                                *self._kubelet_argv(kubelet_port, socket_path)])  # fmt: skip
        return socket_path

    def _bin(self, name: str) -> str:
        return str(self.bin_dir / name)

    def _write_credentials(self) -> None:
        d, pki = self.directory, self.directory / "pki"
        ca, client_ca = new_ca("ansflow-test-ca"), new_ca("ansflow-test-client-ca")
        ca.write(pki, "ca")
        client_ca.write(pki, "client-ca")
        self.ca_pem = ca.cert_pem
        names = ("127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "10.0.0.1")
        issue(ca, "kube-apiserver", server_names=names).write(pki, "apiserver")
        issue(ca, NODE_NAME, server_names=("localhost", "127.0.0.1")).write(pki, "kubelet")
        issue(client_ca, "kube-apiserver-kubelet-client", organizations=("system:masters",), client=True).write(
            pki, "apiserver-kubelet-client"
        )
        admin_cert: KeyPair = issue(client_ca, "ansflow-cert-admin", organizations=("system:masters",), client=True)
        admin_cert.write(pki, "client-admin")
        self.client_cert_pem, self.client_key_pem = admin_cert.cert_pem, admin_cert.key_pem
        service_account_keys().write(pki, "sa")
        (pki / "sa.crt").rename(pki / "sa.pub")
        components = {name: secrets.token_urlsafe(24) for name in ("controller-manager", "scheduler", "kubelet")}
        rows = [f"{self.admin_token},ansflow-admin,ansflow-admin,system:masters",
                f"{self.viewer_token},{VIEWER},{VIEWER}",
                f"{components['controller-manager']},system:kube-controller-manager,kcm,system:masters",
                 f"{components['scheduler']},system:kube-scheduler,ksched,system:masters",
                 f'{components["kubelet"]},system:node:{NODE_NAME},kubelet,"system:nodes,system:masters"']  # fmt: skip
        (pki / "tokens.csv").write_text("\n".join(rows) + "\n")
        (pki / "tokens.csv").chmod(0o600)
        for name, token in components.items():
            (d / f"{name}.kubeconfig").write_text(self.kubeconfig(token))

    def _apiserver_argv(self, etcd_url: str, port: int) -> list[str]:
        pki = self.directory / "pki"
        return [
            self._bin("kube-apiserver"), f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={port}", "--insecure-port=0",
            f"--cert-dir={self.directory / 'apiserver'}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'client-ca.crt'}", f"--token-auth-file={pki / 'tokens.csv'}",
            "--authorization-mode=RBAC", "--allow-privileged=true", "--profiling=false",
            f"--service-account-key-file={pki / 'sa.pub'}", f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc", "--service-cluster-ip-range=10.0.0.0/24",
            # The node is called localhost, so log and exec calls from the apiserver go to the kubelet on loopback.
            "--kubelet-preferred-address-types=Hostname", f"--kubelet-certificate-authority={pki / 'ca.crt'}",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
        ]  # fmt: skip

    def _kubelet_argv(self, port: int, socket_path: Path) -> list[str]:
        d, pki = self.directory, self.directory / "pki"
        return [
            self._bin("kubelet"), "--kubeconfig", str(d / "kubelet.kubeconfig"), f"--root-dir={d / 'kubelet'}",
            "--container-runtime=remote", f"--container-runtime-endpoint=unix://{socket_path}",
            # cAdvisor's own containerd client: the default socket does not exist, and waiting for it costs 5 s.
            f"--containerd={socket_path}",
            # Report a status change within a second (default 10 s): the node is Ready sooner after a start.
            "--node-status-update-frequency=1s",
            f"--pod-infra-container-image={kubeparts.PAUSE_IMAGE}",
            f"--hostname-override={NODE_NAME}", "--address=127.0.0.1", f"--port={port}",
            "--read-only-port=0", "--healthz-port=0",
            f"--tls-cert-file={pki / 'kubelet.crt'}", f"--tls-private-key-file={pki / 'kubelet.key'}",
            f"--client-ca-file={pki / 'client-ca.crt'}", "--anonymous-auth=false", "--authorization-mode=AlwaysAllow",
            # cgroup v1 (hybrid) without CAP_SYS_RESOURCE: no QoS cgroups, no allocatable enforcement, no eviction.
            "--fail-swap-on=false", "--cgroup-driver=cgroupfs", "--cgroups-per-qos=false",
            "--enforce-node-allocatable=", "--eviction-hard=", "--oom-score-adj=0",
            "--image-gc-high-threshold=100", "--image-gc-low-threshold=99",
            # Leave the host alone: no iptables chains, no volume plugin directory under /usr/libexec.
            "--make-iptables-util-chains=false", f"--volume-plugin-dir={d / 'kubelet-plugins'}",
        ]  # fmt: skip

    def _spawn(self, name: str, argv: list[str]) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("KUBE")}
        env["HOME"] = str(self.directory)
        process = ManagedProcess(name, argv, env, output_dir() / f"k8s-{name}.log")
        self.processes.append(process)
        process.start()

    def _alive(self) -> bool:
        for process in self.processes:
            if not process.alive():
                raise AssertionError(f"{process.name} exited:\n{process.output()[-4000:]}")
        return True

    def _wait_api(self) -> None:
        context = ssl.create_default_context(cafile=str(self.ca_file))

        def api_ready() -> bool:
            self._alive()
            try:
                answer = httpx.get(f"{self.server}/readyz", verify=context, timeout=2)
            except httpx.HTTPError:
                return False
            return answer.status_code == 200 and answer.text == "ok"

        wait_until(api_ready, timeout=120, interval=0.2, message=f"{self.server}/readyz answers 200 ok")

    def _wait_ready(self) -> None:
        with self.admin_api() as api:
            binding = client.V1RoleBinding(
                metadata=client.V1ObjectMeta(name="ansflow-viewer-view"),
                role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="view"),
                subjects=[client.RbacV1Subject(api_group="rbac.authorization.k8s.io", kind="User", name=VIEWER)],
            )
            client.RbacAuthorizationV1Api(api).create_namespaced_role_binding("default", binding)
            core = client.CoreV1Api(api)
            wait_until(lambda: self._alive() and _node_schedulable(core), timeout=180, interval=0.25,
                       message=f"node {NODE_NAME} is Ready and schedulable")  # fmt: skip
            self._wait_service_account(api, "default")

    def _wait_service_account(self, api: client.ApiClient, namespace: str) -> None:
        core = client.CoreV1Api(api)

        def has_token() -> bool:
            self._alive()
            try:
                account = core.read_namespaced_service_account("default", namespace)
            except ApiException as error:
                if error.status == 404:
                    return False
                raise
            return bool(account.secrets)

        wait_until(has_token, timeout=60, interval=0.1, message=f"service account default in {namespace}")

    # -- stop -------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop everything in reverse order of start; delete the containers' tasks before containerd goes."""
        socket_path = self.directory / "containerd" / "containerd.sock"
        for process in reversed(self.processes):
            if process.name == "containerd" and process.alive():
                kubeparts.remove_container_tasks(socket_path)
            process.stop(timeout=20)
        kubeparts.kill_processes_under(f"{self.directory}/")
        kubeparts.unmount_under(self.directory)
        kubeparts.remove_empty_cgroups()
        shutil.rmtree(self.directory, ignore_errors=True)


def _node_schedulable(core: client.CoreV1Api) -> bool:
    try:
        node = core.read_node(NODE_NAME)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    if node.status is None or node.spec is None:
        return False
    ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
    blocking = [t for t in node.spec.taints or [] if t.effect in ("NoSchedule", "NoExecute")]
    return ready and not blocking and not node.spec.unschedulable


def _unix_answers(path: Path) -> bool:
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
