"""Helpers of bench/serve_sse.sh: start and time a run through the API, wait for SSE clients,
check what each client received.

  sse_run.py clients URL TOKEN N           wait until the server counts N SSE clients
  sse_run.py run URL TOKEN PIPELINE        POST a run, poll GET /api/runs/ID until it finished;
                                           prints `ID SECONDS STATUS START_EPOCH
                                           STORED_SECONDS POLLS` (stored: queued → finished)
  sse_run.py collect RUN START TIMEOUT FILE:PID...
                                           wait until every client's file holds the run's
                                           `run_finished` frame (or a `dropped` frame, or its
                                           curl exited); prints the seconds from START until the
                                           last one did
  sse_run.py verify RUN LINES FILE...      every client got the run's whole output (the bytes of
                                           `seq LINES`, in order, from offset 0) and its
                                           `run_finished`; prints `COMPLETE DROPPED SHORT` and
                                           one line per incomplete client on stderr

Waits are on state (the server's client count, the run's status, the files' content), polled at
a short interval; each gives up after a deadline with what it saw.
"""

import http.client
import json
import os
import re
import sys
import time
import urllib.parse

POLL_S = float(os.environ.get("SSE_POLL_MS", "5")) / 1000
FINISHED = {"success", "failed", "timed_out", "skipped", "cancelled", "interrupted"}


class Api:
    def __init__(self, url: str, token: str):
        parts = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, body: bytes | None = None):
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status >= 300:
            sys.exit(f"sse_run: {method} {path}: {response.status} {data.decode(errors='replace')}")
        return json.loads(data)


def clients(url: str, token: str, n: int) -> None:
    api = Api(url, token)
    deadline = time.monotonic() + 60
    while True:
        seen = api.call("GET", "/api/status")["sse_clients"]
        if seen == n:
            return
        if time.monotonic() > deadline:
            sys.exit(f"sse_run: the server counts {seen} SSE clients after 60 s, expected {n}")
        time.sleep(0.02)


def run(url: str, token: str, pipeline: str) -> None:
    api = Api(url, token)
    api.call("GET", "/api/status")  # the connection is open before the clock starts
    start_epoch = time.time()
    start = time.monotonic()
    run_id = api.call("POST", f"/api/pipelines/{urllib.parse.quote(pipeline)}/runs", b"{}")["id"]
    polls = 0
    while True:
        record = api.call("GET", f"/api/runs/{run_id}")["run"]
        polls += 1
        if record["status"] in FINISHED:
            break
        time.sleep(POLL_S)
    wall = time.monotonic() - start
    # The store's own view: queued → finished, as the server recorded it.
    stored = (record["finished_at"] - record["queued_at"]) / 1000
    print(f"{run_id} {wall:.6f} {record['status']} {start_epoch:.6f} {stored:.3f} {polls}")


def finished_in(data: bytes, run_id: int) -> bool:
    for m in re.finditer(rb"event: run_finished\ndata: (\{[^\n]*\})\n", data):
        if json.loads(m.group(1)).get("run") == run_id:
            return True
    return False


def exited(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def collect(run_id: int, start_epoch: float, timeout: float, pairs: list[str]) -> None:
    waiting = {}
    for pair in pairs:
        path, pid = pair.rsplit(":", 1)
        waiting[path] = int(pid)
    deadline = time.monotonic() + timeout
    # `run_finished` is the run's last frame (only heartbeats, every 15 s, may follow it), so
    # the last few KiB of a file that grew say whether it came: reading more would take the CPU
    # the server needs to send the rest.
    tail = 4096
    seen = dict.fromkeys(waiting, -1)
    while waiting:
        for path, pid in list(waiting.items()):
            data = b""
            try:
                size = os.stat(path).st_size
                if size != seen[path]:
                    seen[path] = size
                    with open(path, "rb") as f:
                        f.seek(max(0, size - tail))
                        data = f.read()
            except FileNotFoundError:
                pass  # curl creates its file with the first bytes it receives
            if finished_in(data, run_id) or b"event: dropped" in data or exited(pid):
                del waiting[path]
        if not waiting:
            break
        if time.monotonic() > deadline:
            sys.exit(f"sse_run: {len(waiting)} clients had not received run {run_id}'s end after {timeout} s")
        time.sleep(0.02)
    print(f"{time.time() - start_epoch:.6f}")


def verify(run_id: int, lines: int, paths: list[str]) -> None:
    expected = "".join(f"{i}\n" for i in range(1, lines + 1))
    complete = dropped = short = 0
    for path in paths:
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            raw = b""
        pieces: dict[int, list[tuple[int, str]]] = {}
        ended = False
        was_dropped = False
        for frame in raw.split(b"\n\n"):
            event = data = None
            for line in frame.split(b"\n"):
                if line.startswith(b"event: "):
                    event = line[7:].decode()
                elif line.startswith(b"data: "):
                    data = line[6:]
            if event == "dropped":
                was_dropped = True
            if data is None or event not in ("output", "run_finished"):
                continue
            doc = json.loads(data)
            if doc.get("run") != run_id:
                continue
            if event == "run_finished":
                ended = True
            else:
                pieces.setdefault(doc["step"], []).append((doc["offset"], doc["data"]))
        text = ""
        gap = None
        for step, parts in sorted(pieces.items()):
            at = 0
            for offset, chunk in sorted(parts):
                if offset != at:
                    gap = f"step {step}: a piece at offset {offset}, expected {at}"
                    break
                at += len(chunk.encode())
            text += "".join(chunk for _, chunk in sorted(parts))
        got_lines = text.count("\n")
        if was_dropped:
            dropped += 1
        if text == expected and ended and gap is None:
            complete += 1
        else:
            short += 1
            why = gap or ("no run_finished" if not ended else "output differs from seq")
            print(f"  {os.path.basename(path)}: {got_lines} of {lines} lines, {why}"
                  f"{', dropped' if was_dropped else ''}", file=sys.stderr)
    print(f"{complete} {dropped} {short}")


def main() -> None:
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "clients":
        clients(args[0], args[1], int(args[2]))
    elif cmd == "run":
        run(args[0], args[1], args[2])
    elif cmd == "collect":
        collect(int(args[0]), float(args[1]), float(args[2]), args[3:])
    elif cmd == "verify":
        verify(int(args[0]), int(args[1]), args[2:])
    else:
        sys.exit(f"sse_run: unknown command {cmd}")


if __name__ == "__main__":
    main()
