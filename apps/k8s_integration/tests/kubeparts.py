"""The node side of the test cluster: containerd's configuration, the two images built with podman, and the
clean-up of what a kubelet and containerd leave behind (container tasks, shims, mounts)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import psutil

BUSYBOX_IMAGE = "localhost/busybox:ansflow"
PAUSE_IMAGE = "localhost/pause:ansflow"
CNI_BIN_DIR = "/usr/lib/cni"
# Pods cannot use the sandbox's network (loopback only here), so they run with hostNetwork; containerd still
# needs a CNI configuration to report the network ready, without which the node never becomes Ready.
CNI_LOOPBACK = {"cniVersion": "0.4.0", "name": "ansflow-loopback", "type": "loopback"}
# podman's default ulimits and crun fail on this kernel (hybrid cgroups, no CAP_SYS_RESOURCE).
CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
"""


def containerd_config(default_config: str, directory: Path) -> str:
    """``containerd config default`` with every path under ``directory`` and the settings this host needs.

    restrict_oom_score_adj: without CAP_SYS_RESOURCE runc cannot lower a container's oom_score_adj and fails
    with "can't get final child's PID from pipe: EOF".
    """
    replacements = [
        (r'^root = ".*"$', f'root = "{directory / "root"}"'),
        (r'^state = ".*"$', f'state = "{directory / "state"}"'),
        (r'^  address = "/run/containerd/containerd.sock"$', f'  address = "{directory / "containerd.sock"}"'),
        (r'^(\s+)sandbox_image = ".*"$', rf'\1sandbox_image = "{PAUSE_IMAGE}"'),
        (r"^(\s+)restrict_oom_score_adj = false$", r"\1restrict_oom_score_adj = true"),
        (r'^(\s+)bin_dir = ".*"$', rf'\1bin_dir = "{CNI_BIN_DIR}"'),
        (r'^(\s+)conf_dir = ".*"$', rf'\1conf_dir = "{directory / "cni"}"'),
        (r'^(\s+)path = "/opt/containerd"$', rf'\1path = "{directory / "opt"}"'),
    ]
    text = default_config
    for pattern, replacement in replacements:
        text, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        if count != 1:
            raise AssertionError(f"containerd's default configuration changed: {pattern!r} matched {count} times")
    return text


def write_containerd_files(directory: Path) -> Path:
    """The configuration file and the CNI configuration of a private containerd under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cni").mkdir(exist_ok=True)
    (directory / "cni" / "10-loopback.conf").write_text(json.dumps(CNI_LOOPBACK))
    default = subprocess.run(["containerd", "config", "default"], check=True, capture_output=True, text=True).stdout
    config = directory / "config.toml"
    config.write_text(containerd_config(default, directory))
    return config


def _run(argv: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = done.stdout[-2000:] + done.stderr[-4000:]
        raise AssertionError(f"{' '.join(argv)} failed ({done.returncode}):\n{output}")
    return done.stdout


def build_images(directory: Path) -> Path:
    """Build the busybox and pause images with podman in a private store; return a docker-archive of both.

    busybox is the static busybox from Debian, installed FROM scratch; the pause image is that busybox
    sleeping forever. Nothing goes to the host's podman storage, and RUN steps get no network (no bridge).
    """
    context = directory / "context"
    context.mkdir(parents=True, exist_ok=True)
    shutil.copy("/bin/busybox", context / "busybox")
    (context / "Dockerfile.busybox").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
    )
    (context / "Dockerfile.pause").write_text(f'FROM {BUSYBOX_IMAGE}\nENTRYPOINT ["/bin/sleep", "2147483647"]\n')
    (directory / "containers.conf").write_text(CONTAINERS_CONF)
    (directory / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "CONTAINERS_CONF": str(directory / "containers.conf"), "TMPDIR": str(directory / "tmp")}
    podman = ["podman", "--root", str(directory / "storage"), "--runroot", str(directory / "run"),
              "--tmpdir", str(directory / "libpod"), "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs",
              "--events-backend", "file"]  # fmt: skip
    for name, tag in (("busybox", BUSYBOX_IMAGE), ("pause", PAUSE_IMAGE)):
        _run([*podman, "build", "--quiet", "--network", "none", "--pull=never",
              "-f", str(context / f"Dockerfile.{name}"), "-t", tag, str(context)], env)  # fmt: skip
    archive = directory / "images.tar"
    _run([*podman, "save", "--quiet", "--multi-image-archive", "--format", "docker-archive", "-o", str(archive),
          BUSYBOX_IMAGE, PAUSE_IMAGE], env)  # fmt: skip
    return archive


def import_images(socket: Path, archive: Path) -> None:
    """Load the images into containerd's Kubernetes namespace (pods use imagePullPolicy: Never)."""
    _run(["ctr", "--address", str(socket), "--namespace", "k8s.io", "images", "import", str(archive)])


def remove_container_tasks(socket: Path) -> None:
    """Kill and delete every container task, so each shim removes its container's cgroup and rootfs mount
    and exits. The kubelet does not stop its pods when it stops."""
    if not socket.exists():
        return
    ctr = ["ctr", "--address", str(socket), "--namespace", "k8s.io"]
    listed = subprocess.run([*ctr, "tasks", "ls", "-q"], capture_output=True, text=True, check=False, timeout=30)
    ids = listed.stdout.split()
    if ids:
        subprocess.run([*ctr, "tasks", "rm", "--force", *ids], capture_output=True, check=False, timeout=60)


def kill_processes_under(marker: str) -> list[int]:
    """SIGKILL, by pid, every process whose command line names ``marker`` (the cluster's private directory:
    only this cluster's components and containerd shims do) together with its descendants."""
    me = os.getpid()
    victims: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.pid != me and any(marker in part for part in cmdline):
            with contextlib.suppress(psutil.Error):
                for child in proc.children(recursive=True):
                    victims[child.pid] = child
            victims[proc.pid] = proc
    for proc in victims.values():
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(list(victims.values()), timeout=10)
    return sorted(victims)


def remove_empty_cgroups(name: str = "k8s.io") -> None:
    """Remove the cgroup parent containerd creates for pod containers in each cgroup v1 hierarchy, when no
    container is left in it (rmdir of a cgroup that still has children fails, so another cluster's is safe)."""
    root = Path("/sys/fs/cgroup")
    for hierarchy in root.iterdir() if root.is_dir() else ():
        with contextlib.suppress(OSError):
            (hierarchy / name).rmdir()


def mounts_under(root: Path) -> list[str]:
    prefix = str(root)
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return points


def unmount_under(root: Path) -> None:
    """Unmount, deepest first, whatever is mounted under ``root``.

    The kubelet and containerd mount in their own mount namespace, which goes with their last process, so
    this finds nothing unless a mount escaped to the host's namespace; then it must not stay behind."""
    for _ in range(5):
        points = mounts_under(root)
        if not points:
            return
        for point in sorted(points, key=len, reverse=True):
            if subprocess.run(["umount", point], capture_output=True, check=False).returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    left = mounts_under(root)
    if left:
        raise AssertionError(f"still mounted after the cluster stopped: {left}")
