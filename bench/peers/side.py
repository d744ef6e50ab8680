"""What every side of the peers benchmark shares: its command line and how it stops.

The Prefect and Airflow sides import it inside their own venvs, so it uses the standard library only.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path


def arguments(prog: str, *extra: tuple[str, type], argv: list[str] | None = None) -> argparse.Namespace:
    """``--json OUT --chain N --fanout N --reps N`` and the side's own ``extra`` (name, type), all required.

    Also makes SIGTERM (the runner's time limit) unwind normally, so what the side started is stopped too.
    """
    parser = argparse.ArgumentParser(prog=f"python -m {prog}")
    parser.add_argument("--json", required=True, type=Path)
    for name in ("--chain", "--fanout", "--reps"):
        parser.add_argument(name, required=True, type=int)
    for name, kind in extra:
        parser.add_argument(name, required=True, type=kind)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    return args
