"""Read `wrk --latency` output (bench/serve_api.sh): prints
`RPS P50_MS P99_MS REQUESTS NON2XX SOCKET_ERRORS` (socket errors: connect, read, write and
timeouts — wrk times a request out after 2 s)."""

import re
import sys

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        sys.exit(f"wrk_summary: cannot read the latency `{text}`")
    return float(m.group(1)) * UNITS[m.group(2)]


def main() -> None:
    out = open(sys.argv[1]).read()
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    total = re.search(r"^\s+(\d+) requests in", out, re.M)
    if not (rps and p50 and p99 and total):
        sys.exit("wrk_summary: no Requests/sec or latency distribution in wrk's output:\n" + out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = sum(int(g) for g in sock.groups()) if sock else 0
    print(f"{float(rps.group(1)):.1f} {ms(p50.group(1)):.3f} {ms(p99.group(1)):.3f} {total.group(1)} "
          f"{int(non2xx.group(1)) if non2xx else 0} {errors}")


if __name__ == "__main__":
    main()
