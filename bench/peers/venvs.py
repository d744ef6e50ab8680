"""Each peer's virtual environment under the data dir, created and filled from its pinned requirements file."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
INSTALL_TIMEOUT = 1800.0


class InstallFailed(Exception):
    """pip could not install a peer's requirements; the message ends with pip's own last lines."""


def requirements(peer: str) -> Path:
    return HERE / f"requirements-{peer}.txt"


def python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure(peer: str, base: Path) -> tuple[Path, float]:
    """The peer's venv ``<base>/<peer>-venv``, (re)built when missing or when its requirements changed.

    Returns the venv and the seconds spent installing (0 when it was already up to date).
    """
    venv = base / f"{peer}-venv"
    wanted = requirements(peer)
    digest = hashlib.sha256(wanted.read_bytes()).hexdigest()
    stamp = venv / ".requirements.sha256"
    if python(venv).exists() and stamp.exists() and stamp.read_text() == digest:
        return venv, 0.0
    if venv.exists():
        shutil.rmtree(venv)
    began = time.monotonic()
    log = base / f"{peer}-install.log"
    # The venv module bases a new environment on the interpreter this one was made from.
    _run([sys.executable, "-m", "venv", str(venv)], log)
    _run([str(python(venv)), "-m", "pip", "install", "--disable-pip-version-check", "-r", str(wanted)], log)
    stamp.write_text(digest)
    return venv, time.monotonic() - began


def _run(argv: list[str], log: Path) -> None:
    with log.open("ab") as out:
        try:
            code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT).returncode
        except subprocess.TimeoutExpired:
            code = -1
    if code != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        raise InstallFailed(f"`{' '.join(argv[-4:])}` exited {code}: " + "\n".join(tail))
