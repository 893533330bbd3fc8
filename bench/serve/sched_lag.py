"""Helper of bench/schedule_lag.sh: wait until the server fired SLOTS slots of every scheduled
pipeline, then measure each slot's lag from the store.

usage: sched_lag.py DB SLOTS PERIOD_S TIMEOUT_S PIPELINE...

The store says it all: `schedule_slots` holds each claimed slot (its due time in unix seconds,
its outcome, the run started for it) and `runs` that run's `queued_at` and `started_at` (unix
milliseconds). Only slots due after the first look count, so slots recorded before are left
out. Prints one line per figure; exits 3 when no slot at all was recorded within two periods
and 15 s (a server without the schedule loop).
"""

import sqlite3
import statistics
import sys
import time


def main() -> None:
    db_path, slots, period, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    pipelines = sys.argv[5:]
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    since = int(time.time())
    start = time.monotonic()
    first_deadline = start + 2 * period + 15
    deadline = start + timeout
    query = (
        "SELECT s.pipeline, s.slot, s.outcome, r.queued_at, r.started_at "
        "FROM schedule_slots s LEFT JOIN runs r ON r.id = s.run_id "
        "WHERE s.slot > ? ORDER BY s.pipeline, s.slot"
    )
    while True:
        rows = db.execute(query, (since,)).fetchall()
        per = {p: [r for r in rows if r[0] == p] for p in pipelines}
        started = {p: [r for r in rs if r[4] is not None] for p, rs in per.items()}
        if all(len(started[p]) >= slots for p in pipelines):
            break
        now = time.monotonic()
        if not rows and now > first_deadline:
            print(f"no schedule slot recorded {now - start:.0f} s after the server started: "
                  "this server has no schedule loop", file=sys.stderr)
            sys.exit(3)
        if now > deadline:
            counts = ", ".join(f"{p}: {len(started[p])}" for p in pipelines)
            sys.exit(f"sched_lag: after {timeout:.0f} s, slots with a started run: {counts} (expected {slots} each)")
        time.sleep(0.1)

    start_lags, queue_lags = [], []
    outcomes: dict[str, int] = {}
    for p in pipelines:
        # The first SLOTS slots of each pipeline (the ones still waiting for a run are not in it).
        measured = [r for r in per[p] if r[1] <= started[p][slots - 1][1]]
        for _, slot, outcome, queued_at, started_at in measured:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if started_at is not None:
                start_lags.append(started_at - slot * 1000)
                queue_lags.append(queued_at - slot * 1000)
    start_lags.sort()
    p90 = start_lags[min(len(start_lags) - 1, int(len(start_lags) * 0.9))]
    print(f"slots {len(start_lags)}")
    print(f"outcomes {' '.join(f'{k}={v}' for k, v in sorted(outcomes.items()))}")
    print(f"start_median_ms {statistics.median(start_lags):.0f}")
    print(f"start_p90_ms {p90:.0f}")
    print(f"start_max_ms {max(start_lags):.0f}")
    print(f"start_min_ms {min(start_lags):.0f}")
    print(f"queue_median_ms {statistics.median(queue_lags):.0f}")
    print(f"queue_max_ms {max(queue_lags):.0f}")


if __name__ == "__main__":
    main()
