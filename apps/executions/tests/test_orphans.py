"""The sweep of a worker's main process, in a process of its own that plays the worker: it adopts what its
"pool process" (a forked child in its group) leaves behind, and ends a step's processes only once that
pool process is gone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# The step: a background child in its group, a daemon it detaches (its own session, re-parented at once,
# as an SSH ControlPersist master is), and one more that drops ANSFLOW_WORKER (nothing says whose it is).
STEP = """
sleep 300 & echo "child $!"
(setsid sleep 300 & echo "daemon $!")
(env -u ANSFLOW_WORKER setsid sleep 300 & echo "foreign $!")
echo "leader $$"
wait
"""

WORKER = r"""
import json, os, signal, subprocess, sys, time
from apps.executions.engine import orphans

def until(predicate, what):
    deadline = time.monotonic() + 20
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting until {what}")
        time.sleep(0.01)

def running(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False

def exists(pid):
    return os.path.exists(f"/proc/{pid}")

assert orphans.adopt()
read_end, write_end = os.pipe()
pool = os.fork()
if pool == 0:  # the pool process: the worker's group; its step runs in a session of its own
    os.close(read_end)
    env = dict(os.environ, ANSFLOW_WORKER=f"{os.uname().nodename}:{os.getpid()}")
    subprocess.Popen(["bash", "-c", sys.argv[1]], start_new_session=True, env=env, stdout=write_end)
    os.close(write_end)
    signal.pause()
os.close(write_end)
pids = {}
with os.fdopen(read_end) as lines:
    for line in lines:
        name, pid = line.split()
        pids[name] = int(pid)
        if len(pids) == 4:
            break
def sleeping(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().startswith(b"sleep\0")
    except FileNotFoundError:
        return False
def apart():  # adopted, and past ``env`` and ``setsid``: in sessions of their own
    detached = {pids["daemon"], pids["foreign"]}
    return detached <= orphans.children() and all(sleeping(pid) for pid in detached)
until(apart, "the detached processes are adopted")
report = {"pids": pids, "pool": pool, "while_pool_lives": orphans.sweep()}
report["running_after_first_sweep"] = sorted(name for name, pid in pids.items() if running(pid))
report["pool_running"] = running(pool)
os.kill(pool, signal.SIGKILL)
os.waitpid(pool, 0)  # as the worker's pool does for its own processes
killed = []
def swept():
    killed.extend(orphans.sweep())
    return not any(exists(pids[name]) for name in ("child", "daemon", "leader"))
until(swept, "the step's processes are ended and reaped")
report["killed"] = sorted(set(killed))
report["foreign_running"] = running(pids["foreign"])
os.kill(pids["foreign"], signal.SIGKILL)
print(json.dumps(report))
"""


def test_a_step_is_ended_only_once_its_pool_process_is_gone():
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", WORKER, STEP], cwd=root, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    pids = report["pids"]
    # While the pool process runs, the daemon its step detached is its step's business.
    assert report["while_pool_lives"] == []
    assert report["running_after_first_sweep"] == ["child", "daemon", "foreign", "leader"]
    assert report["pool_running"]
    # Once it is gone: the step's group (its leader's pid) and the detached daemon's session, nothing else.
    assert report["killed"] == sorted([pids["leader"], pids["daemon"]])
    assert report["foreign_running"]
