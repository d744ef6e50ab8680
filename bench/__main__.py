"""``python -m bench [--only NAME] [--quick] [--backend NAME]``: every benchmark on every backend that answers.

The embedded default always runs; MariaDB + Redis run when both answer on
127.0.0.1. Each backend runs ``bench.suite`` in a subprocess of its own, with
its own data directory and ``DATABASE_URL`` / ``REDIS_URL``, so Django reads its
settings fresh. The results are merged into ``bench/results/<benchmark>.json``
and the table in ``bench/README.md`` is regenerated (``--quick`` writes under the
data directory instead and leaves both alone).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ansflow.settings")

from django.conf import settings

from . import report
from .backends import fresh_environment, mariadb_answers, recreate_mariadb_database, redis_answers, wait_or_stop
from .report import BENCHMARKS

MARIADB_DATABASE = "ansflow_bench"
EXTERNAL_REDIS = "redis://127.0.0.1:6379/12"
SUITE_TIMEOUT = 3600.0


def backend_environments(chosen: list[str]) -> dict[str, dict[str, str]]:
    """The environment overrides of each backend to run (``""`` removes the variable)."""
    found: dict[str, dict[str, str]] = {}
    if not chosen or "embedded" in chosen:
        found["embedded"] = {"DATABASE_URL": "", "REDIS_URL": ""}
    if not chosen or "mariadb" in chosen:
        if mariadb_answers() and redis_answers(EXTERNAL_REDIS):
            database_url = recreate_mariadb_database(MARIADB_DATABASE)
            found["mariadb"] = {"DATABASE_URL": database_url, "REDIS_URL": EXTERNAL_REDIS}
        else:
            print("bench: MariaDB on 127.0.0.1:3306 or Redis on 127.0.0.1:6379 does not answer; skipping that backend")
    return found


def run_backend(label: str, overrides: dict[str, str], args: argparse.Namespace, base: Path) -> dict[str, Any] | None:
    data_dir = base / label
    env = fresh_environment(data_dir, overrides)
    out = data_dir / "suite.json"
    argv = [sys.executable, "-m", "bench.suite", "--label", label, "--json", str(out)]
    argv += [f"--only={name}" for name in args.only] + (["--quick"] if args.quick else [])
    log_path = data_dir / "suite.log"
    print(f"bench: {label} ...", flush=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, env=env, stderr=log, cwd=settings.BASE_DIR)
        code = wait_or_stop(process, SUITE_TIMEOUT)  # the suite stops its workers and Redis on SIGTERM
    if code != 0 or not out.exists():
        print(f"bench: {label} failed (exit {code}); the end of its log:\n{log_path.read_text()[-3000:]}")
        return None
    return dict(json.loads(out.read_text()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="AnsFlow engine benchmarks")
    parser.add_argument("--only", action="append", default=[], choices=BENCHMARKS, help="run only this benchmark")
    parser.add_argument("--quick", action="store_true", help="smoke run: smaller sizes, one repetition")
    parser.add_argument("--backend", action="append", default=[], choices=("embedded", "mariadb"))
    args = parser.parse_args(argv)

    base = Path(settings.DATA_DIR)
    backends = backend_environments(args.backend)
    per_backend: dict[str, dict[str, Any]] = {}
    for label, overrides in backends.items():
        result = run_backend(label, overrides, args, base)
        if result is not None:
            per_backend[label] = result
    if not per_backend:
        return 1

    directory = base / "quick-results" if args.quick else report.RESULTS_DIR
    report.write_results(per_backend, directory)
    if args.quick:
        (directory / "README.md").write_text(report.render_readme(report.load_results(directory)))
    else:
        report.write_readme(directory)
    print("\n".join(report.summary_rows(report.load_results(directory))))
    print(f"bench: results in {directory}")
    return 0 if len(per_backend) == len(backends) else 1


if __name__ == "__main__":
    sys.exit(main())
