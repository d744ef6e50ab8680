"""AnsFlow and raw Celery (the floor) for the peers benchmark: one backend, in a process of its own.

``python -m bench.peers.ansflow_side --label NAME --json OUT --chain N --fanout N --reps N`` runs the engine
benchmarks' own measurement (``bench.measure``: AnsFlow's runs interleaved with the floor's Celery runs, on one
AnsFlow worker and one floor worker started as ``bench.suite`` starts them) at the peers' sizes.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ansflow.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402

from bench import measure, suite  # noqa: E402
from bench.peers import side  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    args = side.arguments("bench.peers.ansflow_side", ("--label", str), argv=argv)  # SIGTERM stops workers, Redis
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
