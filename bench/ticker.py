"""A step's body for the latency benchmarks: ``ticker.py COUNT INTERVAL_MS DELAY_S``.

Waits ``DELAY_S`` (so every viewer is connected and live), then prints ``COUNT``
lines ``tick <n> <time.time_ns()>``, one every ``INTERVAL_MS`` on a fixed schedule,
flushing each line. Standard library only: it runs as a plain subprocess of the step.
"""

import sys
import time


def main() -> None:
    count, interval, delay = int(sys.argv[1]), float(sys.argv[2]) / 1000, float(sys.argv[3])
    time.sleep(delay)
    out = sys.stdout
    due = time.monotonic()
    for n in range(1, count + 1):
        out.write(f"tick {n} {time.time_ns()}\n")
        out.flush()
        due += interval
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)


if __name__ == "__main__":
    main()
