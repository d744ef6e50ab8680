"""AnsFlow and raw Celery (the floor) for the peers benchmark: one backend, in a process of its own.

``python -m bench.peers.ansflow_side --label NAME --json OUT --chain N --fanout N --reps N`` runs the engine
benchmarks' own measurement (``bench.measure``: AnsFlow's runs interleaved with the floor's Celery runs, on one
AnsFlow worker and one floor worker started as ``bench.suite`` starts them) at the peers' sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ansflow.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402

from bench import measure, suite  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.ansflow_side")
    parser.add_argument("--label", required=True)
    parser.add_argument("--json", required=True, type=Path)
    parser.add_argument("--chain", type=int, required=True)
    parser.add_argument("--fanout", type=int, required=True)
    parser.add_argument("--reps", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # stops the workers and Redis
    call_command("migrate", interactive=False, verbosity=0)
    with suite.redis_server():
        environment = suite.environment(args.label)
        environment["spawn"] = measure.spawn_costs(300)
        with suite.workers():
            suite.say(args.label, f"chain of {args.chain}, {args.reps} repetition(s)")
            chain = measure.chain(args.chain, args.reps, timeout=600)
            suite.say(args.label, f"fan-out of {args.fanout}, {args.reps} repetition(s)")
            fanout = measure.fanout(args.fanout, args.reps, timeout=600)
    args.json.write_text(json.dumps({"environment": environment, "chain": chain, "fanout": fanout}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
