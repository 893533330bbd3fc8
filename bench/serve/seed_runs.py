"""Seed a baton store with copies of one real run (bench/serve_api.sh).

usage: seed_runs.py BATON_DIR TOTAL

Running 10,000 pipelines through baton would take longer than the benchmark itself, so the
store is filled from one real run instead: the rows a real `baton run` wrote (runs, stages,
steps, events) are copied until the store holds TOTAL runs, each copy with its own ids, its
own event sequence numbers, times 100 ms after the previous run's, and its own log file and
workspace directory (the real run's bytes). Every copy is what the same run would have left
at that time, so listings, details and logs read exactly as they would after real runs.
One transaction; the store must not be in use (no baton process running).
"""

import json
import os
import shutil
import sqlite3
import sys

STEP_MS = 100  # each copy starts this long after the previous one


def main() -> None:
    baton_dir, total = sys.argv[1], int(sys.argv[2])
    db = sqlite3.connect(os.path.join(baton_dir, "baton.db"), isolation_level=None)
    db.row_factory = sqlite3.Row
    runs = db.execute("SELECT * FROM runs ORDER BY id").fetchall()
    if len(runs) != 1:
        sys.exit(f"seed_runs: expected the one real run in the store, found {len(runs)}")
    run = dict(runs[0])
    real_id = run["id"]
    stages = [dict(r) for r in db.execute("SELECT * FROM stages WHERE run_id = ?", (real_id,))]
    steps = [dict(r) for r in db.execute("SELECT * FROM steps WHERE run_id = ? ORDER BY id", (real_id,))]
    events = [dict(r) for r in db.execute("SELECT * FROM events WHERE run_id = ? ORDER BY seq", (real_id,))]
    if not stages or not steps or not events:
        sys.exit("seed_runs: the real run has no stages, steps or events")
    logs = {}
    for s in steps:
        path = os.path.join(baton_dir, "logs", str(real_id), f"{s['id']}.log")
        with open(path, "rb") as f:
            logs[s["id"]] = f.read()
        if len(logs[s["id"]]) != s["log_bytes"]:
            sys.exit(f"seed_runs: {path} does not hold the step's {s['log_bytes']} bytes")
    next_step = db.execute("SELECT MAX(id) FROM steps").fetchone()[0] + 1
    next_seq = db.execute("SELECT MAX(seq) FROM events").fetchone()[0] + 1
    workspace_root = os.path.dirname(run["workspace"]) if run["workspace"] else None

    def shift(value, delta):
        return None if value is None else value + delta

    pending = {"runs": [], "stages": [], "steps": [], "events": []}

    def insert(table, row):
        pending[table].append(row)

    for n in range(1, total):
        new_id = real_id + n
        delta = n * STEP_MS
        r = dict(run, id=new_id)
        for col in ("queued_at", "started_at", "finished_at", "cancel_requested_at"):
            r[col] = shift(r[col], delta)
        if workspace_root:
            r["workspace"] = os.path.join(workspace_root, str(new_id))
            os.makedirs(r["workspace"], exist_ok=True)
        insert("runs", r)
        for s in stages:
            insert("stages", dict(s, run_id=new_id, started_at=shift(s["started_at"], delta),
                                  finished_at=shift(s["finished_at"], delta)))
        log_dir = os.path.join(baton_dir, "logs", str(new_id))
        os.makedirs(log_dir, exist_ok=True)
        for s in steps:
            step_id = next_step
            next_step += 1
            insert("steps", dict(s, id=step_id, run_id=new_id, started_at=shift(s["started_at"], delta),
                                 finished_at=shift(s["finished_at"], delta)))
            with open(os.path.join(log_dir, f"{step_id}.log"), "wb") as f:
                f.write(logs[s["id"]])
        for e in events:
            data = json.loads(e["data"])
            data["run"] = new_id
            data["at"] = data["at"] + delta
            insert("events", dict(e, seq=next_seq, run_id=new_id, at=e["at"] + delta,
                                  data=json.dumps(data, separators=(",", ":"))))
            next_seq += 1
    db.execute("BEGIN IMMEDIATE")
    for table, rows in pending.items():
        if rows:
            cols = list(rows[0])
            db.executemany(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [[row[c] for c in cols] for row in rows],
            )
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    count = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    print(f"seeded: {count} runs, {db.execute('SELECT COUNT(*) FROM steps').fetchone()[0]} steps, "
          f"{db.execute('SELECT COUNT(*) FROM events').fetchone()[0]} events")


if __name__ == "__main__":
    main()
