#!/usr/bin/env bash
# Fault-injection campaign (not part of the test suite): kill -9 at random points, 20-way
# concurrency, and a mutation fuzzer over `baton validate`. Prints ONE table of failure counts;
# all zeros is the goal. It always exits 0 (a measurement); failing cases are kept under $OUT.
#
#   bench/torture.sh                      # TRIALS=30 CONC=20 FUZZ=3000, on target/release/baton
#   BATON=target/debug/baton TRIALS=3 CONC=5 FUZZ=200 bench/torture.sh   # a quick look
#
# Campaigns (each can be left out: SKIP_RUN, SKIP_CONFIG, SKIP_NODES, SKIP_APPLY, SKIP_CONC,
# SKIP_FUZZ):
#   run      `baton run write`: 4 stages whose steps sleep and `upload:` files into out/
#   config   `baton config apply --all`: 3 templated files with `on_change`, on the local node
#   nodes    the same on 2 real OpenSSH sshd nodes on loopback (bench/nodes.sh; root + sshd)
#   apply    `baton apply --auto-approve`: 1 directory, $FILES `file` resources, $CMDS `command`s
# For each trial the sources change (new content), the command is started with a marker
# (TORTURE_MARK=<id> in its environment and in every command it starts) and killed with SIGKILL
# at a random line of its progress output (even trials) or after a random delay within the
# duration of an unkilled run (odd trials). Then:
#   partial      a target holds neither its content before the trial nor the converged content
#   integrity    `PRAGMA integrity_check` of .baton/baton.db is not `ok` (checked right after)
#   orphans      a process carrying the marker is alive after the next baton command
#                (`baton runs`), waited for up to $ORPHAN_WAIT s (remote watchdogs poll each 1 s)
#   no converge  the same command again fails, or a third look is not clean (pipeline: a run
#                fails or out/ differs from src/; config: `config diff --all` not 0; infra:
#                `plan` not 0)
#   litter       `.NAME.baton-*` temporary files beside the targets after convergence
# infra only:  stale lock   the re-run was refused with "locked by a process that died" (documented:
#                           `baton state unlock` is then run, and the re-run retried)
# shellcheck disable=SC2317  # the campaigns' functions are called by name (${c}_setup, ...)
set -uo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BATON=$(baton_bin) || exit 1
BATON=$(cd "$(dirname "$BATON")" && pwd)/$(basename "$BATON")
TRIALS=${TRIALS:-30}
CONC=${CONC:-20}
CONC_ROUNDS=${CONC_ROUNDS:-1}
FUZZ=${FUZZ:-3000}
FUZZ_JOBS=${FUZZ_JOBS:-2}
FUZZ_SEED=${FUZZ_SEED:-1}
FILES=${FILES:-40}          # `file` resources of the apply campaign (plus 1 directory)
CMDS=${CMDS:-10}            # `command` resources of the apply campaign
SIZE_KB=${SIZE_KB:-64}      # size of each target's content
ORPHAN_WAIT=${ORPHAN_WAIT:-2}    # seconds an orphan may outlive the next command on SSH nodes
LOCAL_WAIT=${LOCAL_WAIT:-0.3}    # ... on the local node (that command kills them itself)
CMD_TIMEOUT=${CMD_TIMEOUT:-120}
OUT=${OUT:-/tmp/baton-torture}
RANDOM=${SEED:-$$}
# The real interpreter, not a pyenv shim (~0.2 s per call).
PY=$(python3 -c 'import sys; print(sys.executable)') || { echo "torture: python3 is needed" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/baton-torture.XXXXXX")
TAG="tt$$"                  # every marker of this campaign starts with it
mkdir -p "$OUT"
STATE="$WORK/nodes"
NODE_PORT=${TORTURE_PORT:-2522}
export STATE NODE_PORT
NODES_UP=

# Processes still carrying one of this campaign's markers (PIDs, one per line).
marked_pids() { # marked_pids PATTERN: PIDs whose environment has TORTURE_MARK=PATTERN (a regex)
  local f
  while IFS= read -r f; do
    f=${f#/proc/}
    printf '%s\n' "${f%/environ}"
  done < <(grep -lzs -- "^TORTURE_MARK=$1" /proc/[0-9]*/environ 2>/dev/null)
}
kill_marked() { # kill_marked PATTERN: SIGKILL what this campaign started and left running
  local pid
  for pid in $(marked_pids "$1"); do kill -9 "$pid" 2>/dev/null; done
}
cleanup() {
  kill_marked "$TAG-"
  [ -n "$NODES_UP" ] && "$BENCH_DIR/nodes.sh" stop >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- counters and the table
declare -a ROWS=()
declare -A TR=() FAIL=()
row() { # row NAME: declare a row (in table order)
  ROWS+=("$1")
  TR[$1]=0
  FAIL[$1]=0
}
tried() { TR[$1]=$((TR[$1] + ${2:-1})); }
failed() { FAIL[$1]=$((FAIL[$1] + ${2:-1})); }
declare -a NOTES=()
note() { NOTES+=("$*"); }

# ---------------------------------------------------------------- shared checks
integrity() { # integrity DIR: prints sqlite's integrity_check result
  "$PY" - "$1/.baton/baton.db" <<'EOF'
import sqlite3, sys, os
if not os.path.exists(sys.argv[1]):
    print("no database"); sys.exit()
try:
    c = sqlite3.connect(sys.argv[1], timeout=30)
    print(" ".join(r[0] for r in c.execute("PRAGMA integrity_check")))
except Exception as e:
    print("error: %s" % e)
EOF
}

# snapshot ARRAY: ARRAY[path] = sha256 of each of TARGETS, or ABSENT
snapshot() {
  local -n _snap=$1
  local p h
  _snap=()
  for p in "${TARGETS[@]}"; do _snap["$p"]=ABSENT; done
  while read -r h p; do _snap["$p"]=$h; done < <(sha256sum -- "${TARGETS[@]}" 2>/dev/null)
}

# gen_files DIR PREFIX COUNT KB TRIAL: COUNT text files DIR/PREFIX<i>.txt of KB KiB each, new
# content for every trial (base64 lines: no template syntax in them).
gen_files() {
  "$PY" - "$@" <<'EOF'
import base64, os, sys
d, prefix, n, kb, trial = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
os.makedirs(d, exist_ok=True)
for i in range(1, n + 1):
    body = base64.encodebytes(os.urandom(kb * 768)).decode()
    with open(os.path.join(d, "%s%d.txt" % (prefix, i)), "w") as f:
        f.write("trial %s file %d\n%s" % (trial, i, body))
EOF
}

wait_ns() { awk -v s="$1" 'BEGIN { printf "%d", s * 1e9 }'; }

# b DIR ARGS...: baton in DIR, bounded by CMD_TIMEOUT; output in DIR/last.out / last.err
b() {
  local dir=$1
  shift
  (cd "$dir" && timeout "$CMD_TIMEOUT" "$BATON" "$@" >"$dir/last.out" 2>"$dir/last.err")
}

# ---------------------------------------------------------------- the four kill -9 campaigns
# Each campaign defines: <c>_setup DIR (project + TARGETS + LITTER dirs), <c>_version DIR T MARK
# (new sources for trial T), <c>_cmd MARK (argv of the command, in KCMD), <c>_clean DIR (the third
# look: 0 = clean).

run_setup() {
  local dir=$1 i
  WAIT_NS=$(wait_ns "$LOCAL_WAIT")
  mkdir -p "$dir/out"
  {
    echo "project: torture-run"
    echo "vars: { mark: none }"
    echo "pipelines:"
    echo "  write:"
    echo "    stages:"
    for i in 1 2 3 4; do
      echo "      s$i:"
      case $i in 2 | 3) echo "        needs: [s1]" ;; 4) echo "        needs: [s2, s3]" ;; esac
      echo "        timeout: 60s"
      echo "        env: { TORTURE_MARK: \"{{ vars.mark }}\" }"
      echo "        steps:"
      echo "          - run: \"sleep 1; echo stage $i slept\""
      echo "          - upload: { src: src/p$i.txt, dest: out/p$i.txt }"
      echo "          - upload: { src: src/q$i.txt, dest: out/q$i.txt }"
      echo "          - run: \"sleep 0.1 & sleep 0.2; wait\""
    done
  } >"$dir/baton.yaml"
  TARGETS=()
  for i in 1 2 3 4; do TARGETS+=("$dir/out/p$i.txt" "$dir/out/q$i.txt"); done
  LITTER=("$dir/out")
}
run_version() {
  gen_files "$1/src" p 4 "$SIZE_KB" "$2"
  gen_files "$1/src" q 4 "$((SIZE_KB * 16))" "$2"
}
run_cmd() { KCMD=(run write --var "mark=$1"); }
run_clean() {
  local dir=$1 i
  b "$dir" run write || return 1
  for i in 1 2 3 4; do
    cmp -s "$dir/src/p$i.txt" "$dir/out/p$i.txt" && cmp -s "$dir/src/q$i.txt" "$dir/out/q$i.txt" || return 1
  done
}

config_project() { # config_project DIR TARGETS_YAML PATH_YAML MARK
  local dir=$1 targets=$2 path=$3 mark=$4 i
  {
    echo "project: torture-config"
    echo "vars: { mark: $mark }"
    [ -n "${NODES_YAML:-}" ] && [ "$targets" = all ] && printf '%s\n' "$NODES_YAML"
    echo "configs:"
    for i in 1 2 3; do
      echo "  c$i:"
      echo "    targets: $targets"
      echo "    path: \"${path}/c$i.txt\""
      echo "    template: src/c$i.txt"
      if [ "$i" = 1 ]; then echo "    on_change: \"TORTURE_MARK={{ vars.mark }} sleep $LONG\""; else echo "    on_change: \"TORTURE_MARK={{ vars.mark }} sleep 0.3\""; fi
    done
  } >"$dir/baton.yaml"
}
config_setup() {
  local dir=$1 i
  LONG=1 WAIT_NS=$(wait_ns "$LOCAL_WAIT")
  mkdir -p "$dir/out"
  config_project "$dir" local "$dir/out" none
  TARGETS=()
  for i in 1 2 3; do TARGETS+=("$dir/out/c$i.txt"); done
  LITTER=("$dir/out")
}
config_version() {
  gen_files "$1/src" c 3 "$SIZE_KB" "$2"
  config_project "$1" local "$1/out" "$3"
}
config_cmd() { KCMD=(config apply --all); }
config_clean() { b "$1" config diff --all; }

nodes_setup() {
  local dir=$1 i n
  LONG=$((ORPHAN_WAIT + 2)) WAIT_NS=$(wait_ns "$ORPHAN_WAIT")
  mkdir -p "$dir"
  NODES_YAML="nodes:"
  for n in 1 2; do
    mkdir -p "$STATE/node0$n/cfg"
    NODES_YAML+=$'\n'"  node0$n: { host: 127.0.0.$((n + 1)), port: $NODE_PORT, user: root, key: $STATE/client/id_ed25519, vars: { dir: $STATE/node0$n/cfg } }"
  done
  NODES_YAML+=$'\n'"ssh: { known_hosts: $STATE/known_hosts, connect_timeout: 10s }"
  config_project "$dir" all "{{ node.vars.dir }}" none
  TARGETS=()
  for n in 1 2; do
    for i in 1 2 3; do TARGETS+=("$STATE/node0$n/cfg/c$i.txt"); done
  done
  LITTER=("$STATE/node01/cfg" "$STATE/node02/cfg")
}
nodes_version() {
  gen_files "$1/src" c 3 "$SIZE_KB" "$2"
  config_project "$1" all "{{ node.vars.dir }}" "$3"
}
nodes_cmd() { KCMD=(config apply --all); }
nodes_clean() { b "$1" config diff --all; }

apply_project() { # apply_project DIR MARK
  local dir=$1 mark=$2 i
  {
    echo "project: torture-infra"
    echo "vars: { mark: $mark }"
    echo "resources:"
    echo "  out: { type: directory, path: out }"
    for ((i = 1; i <= FILES; i++)); do
      echo "  f$i: { type: file, path: out/f$i.txt, source: src/f$i.txt, depends_on: [out] }"
    done
    for ((i = 1; i <= CMDS; i++)); do
      echo "  k$i: { type: command, create: \"TORTURE_MARK={{ vars.mark }} sleep $((i % 4 / 2)).$((i % 2 * 5)); sleep 0.5; echo k$i\", depends_on: [out] }"
    done
  } >"$dir/baton.yaml"
}
apply_setup() {
  local dir=$1 i
  WAIT_NS=$(wait_ns "$LOCAL_WAIT")
  mkdir -p "$dir"
  apply_project "$dir" none
  TARGETS=()
  for ((i = 1; i <= FILES; i++)); do TARGETS+=("$dir/out/f$i.txt"); done
  LITTER=("$dir/out")
}
apply_version() {
  gen_files "$1/src" f "$FILES" "$SIZE_KB" "$2"
  apply_project "$1" "$3"
}
apply_cmd() { KCMD=(apply --auto-approve); }
apply_clean() { b "$1" plan; }

# keep DIR CAMPAIGN TRIAL WHY: copy a failing trial under $OUT
keep() {
  local dest="$OUT/$2/trial-$3"
  mkdir -p "$dest"
  cp -a "$1/." "$dest/" 2>/dev/null
  printf '%s\n' "$4" >>"$dest/WHY.txt"
}

# kill_campaign NAME LABEL
kill_campaign() {
  local c=$1 label=$2 dir="$WORK/$1" t mark start end dur_ms lines pid rc kill_at mode
  local -A old=() after=() final=()
  row "$label kill -9: partial targets"
  row "$label kill -9: orphans"
  row "$label kill -9: integrity"
  row "$label kill -9: no convergence"
  row "$label kill -9: litter (.*.baton-*)"
  [ "$c" = apply ] && row "$label kill -9: stale lock refusals"
  "${c}_setup" "$dir"
  # An unkilled run first: the state to start from, its duration and number of output lines.
  "${c}_version" "$dir" 0 "$TAG-$c-0"
  "${c}_cmd" "$TAG-$c-0"
  start=$(date +%s%N)
  if ! b "$dir" "${KCMD[@]}"; then
    note "$label: the first, unkilled \`baton ${KCMD[*]}\` failed; campaign left out (see $OUT/$c/setup)"
    keep "$dir" "$c" setup "first run failed"
    return
  fi
  end=$(date +%s%N)
  dur_ms=$(((end - start) / 1000000))
  lines=$(wc -l <"$dir/last.out")
  [ "$lines" -ge 1 ] || lines=1
  local killed=0 finished=0
  for ((t = 1; t <= TRIALS; t++)); do
    mark="$TAG-$c-$t"
    local why=""
    snapshot old
    "${c}_version" "$dir" "$t" "$mark"
    "${c}_cmd" "$mark"
    (cd "$dir" && TORTURE_MARK=$mark exec "$BATON" "${KCMD[@]}" >"$dir/killed.out" 2>"$dir/killed.err") &
    pid=$!
    if ((t % 2 == 0)); then
      mode=line
      kill_at=$((1 + RANDOM % lines))
      local waited=0
      while kill -0 "$pid" 2>/dev/null && [ "$(wc -l <"$dir/killed.out")" -lt "$kill_at" ] && ((waited < CMD_TIMEOUT * 100)); do
        sleep 0.01
        waited=$((waited + 1))
      done
    else
      mode=delay
      kill_at=$((RANDOM % (dur_ms + 1)))
      sleep "$(printf '%d.%03d' $((kill_at / 1000)) $((kill_at % 1000)))"
    fi
    if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); else finished=$((finished + 1)); fi
    wait "$pid" 2>/dev/null
    printf 'trial %d: kill at %s %s\n' "$t" "$mode" "$kill_at" >>"$dir/kills.log"
    snapshot after

    # integrity, right after the kill
    tried "$label kill -9: integrity"
    local integ
    integ=$(integrity "$dir")
    if [ "$integ" != ok ]; then failed "$label kill -9: integrity"; why+="integrity: $integ; "; fi

    # orphans: after the next baton command
    tried "$label kill -9: orphans"
    b "$dir" runs
    local left=""
    local deadline=$(($(date +%s%N) + WAIT_NS))
    while :; do
      left=$(marked_pids "$mark\$")
      [ -z "$left" ] || [ "$(date +%s%N)" -gt "$deadline" ] && break
      sleep 0.1
    done
    if [ -n "$left" ]; then
      failed "$label kill -9: orphans"
      why+="orphans after $((WAIT_NS / 1000000)) ms: $(for p in $left; do tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline"; echo -n '| '; done); "
      kill_marked "$mark\$"
    fi

    # convergence: the same command again, then a third look
    tried "$label kill -9: no convergence"
    "${c}_cmd" "$mark-r"
    local conv=ok
    if ! TORTURE_MARK=$mark-r b "$dir" "${KCMD[@]}"; then
      if [ "$c" = apply ] && grep -q "locked by a process that died" "$dir/last.err"; then
        tried "$label kill -9: stale lock refusals"
        failed "$label kill -9: stale lock refusals"
        b "$dir" state unlock
        TORTURE_MARK=$mark-r b "$dir" "${KCMD[@]}" || conv="re-run after unlock: exit $?: $(tail -n 3 "$dir/last.err" | tr '\n' ' ')"
      else
        conv="re-run: $(tail -n 3 "$dir/last.err" | tr '\n' ' ')"
      fi
    elif [ "$c" = apply ]; then
      tried "$label kill -9: stale lock refusals"
    fi
    if [ "$conv" = ok ] && ! "${c}_clean" "$dir"; then
      conv="third look not clean: $(tail -n 5 "$dir/last.out" "$dir/last.err" | tr '\n' ' ')"
    fi
    if [ "$conv" != ok ]; then failed "$label kill -9: no convergence"; why+="$conv; "; fi
    kill_marked "$mark-r\$"

    # partial targets: after the kill, each target was its old or its converged content
    tried "$label kill -9: partial targets"
    snapshot final
    local p bad=""
    for p in "${TARGETS[@]}"; do
      if [ "${after[$p]}" != "${old[$p]}" ] && [ "${after[$p]}" != "${final[$p]}" ]; then
        bad+="$p (${after[$p]:0:12}) "
      fi
    done
    if [ -n "$bad" ]; then failed "$label kill -9: partial targets"; why+="partial: $bad; "; fi

    # litter after convergence
    tried "$label kill -9: litter (.*.baton-*)"
    local litter
    litter=$(find "${LITTER[@]}" -maxdepth 1 -name '.*.baton-*' 2>/dev/null | tr '\n' ' ')
    if [ -n "$litter" ]; then
      failed "$label kill -9: litter (.*.baton-*)"
      why+="litter: $litter; "
      find "${LITTER[@]}" -maxdepth 1 -name '.*.baton-*' -delete 2>/dev/null
    fi
    if [ -n "$why" ]; then keep "$dir" "$c" "$t" "trial $t (kill at $mode $kill_at): $why"; fi
  done
  note "$label: $killed of $TRIALS trials killed mid-way, $finished finished before the kill (unkilled run: ${dur_ms} ms, $lines lines)"
}

# ---------------------------------------------------------------- concurrency
conc_campaign() {
  local dir="$WORK/conc" r i pid rc
  row "concurrent apply: bad exits"
  row "concurrent config apply: bad exits"
  row "concurrent: integrity"
  row "concurrent: not clean after"
  mkdir -p "$dir/out"
  for ((r = 1; r <= CONC_ROUNDS; r++)); do
    local mark="$TAG-conc-$r"
    gen_files "$dir/src" f "$FILES" 16 "$r"
    gen_files "$dir/src" c 3 16 "$r"
    apply_project "$dir" "$mark"
    {
      echo "configs:"
      for i in 1 2 3; do
        printf '  c%d: { targets: local, path: "%s/out/c%d.txt", template: src/c%d.txt, on_change: "sleep 0.05" }\n' "$i" "$dir" "$i" "$i"
      done
    } >>"$dir/baton.yaml"
    local -a pids=() kinds=()
    for ((i = 1; i <= CONC; i++)); do
      (cd "$dir" && TORTURE_MARK=$mark exec timeout "$CMD_TIMEOUT" "$BATON" apply --auto-approve >"$dir/a$i.out" 2>"$dir/a$i.err") &
      pids+=("$!") kinds+=("a$i")
      (cd "$dir" && TORTURE_MARK=$mark exec timeout "$CMD_TIMEOUT" "$BATON" config apply --all >"$dir/c$i.out" 2>"$dir/c$i.err") &
      pids+=("$!") kinds+=("c$i")
    done
    for i in "${!pids[@]}"; do
      wait "${pids[$i]}"
      rc=$?
      local k=${kinds[$i]} rowname ok=no
      if [ "${k:0:1}" = a ]; then rowname="concurrent apply: bad exits"; else rowname="concurrent config apply: bad exits"; fi
      tried "$rowname"
      if [ "$rc" -eq 0 ]; then
        ok=yes
      elif [ "$rc" -eq 1 ] && grep -qiE "another apply or destroy is running|is locked by|waiting for" "$dir/$k.err"; then
        ok=yes
      fi
      if grep -qiE "database is locked|panicked|SQLITE_BUSY" "$dir/$k.out" "$dir/$k.err"; then ok=no; fi
      if [ "$ok" = no ]; then
        failed "$rowname"
        keep "$dir" conc "round-$r" "$k: exit $rc: $(tail -n 3 "$dir/$k.err" | tr '\n' ' ')"
      fi
    done
    tried "concurrent: integrity"
    local integ
    integ=$(integrity "$dir")
    if [ "$integ" != ok ]; then failed "concurrent: integrity"; keep "$dir" conc "round-$r" "integrity: $integ"; fi
    tried "concurrent: not clean after"
    if ! b "$dir" plan || ! b "$dir" config diff --all; then
      failed "concurrent: not clean after"
      keep "$dir" conc "round-$r" "not clean after: $(tail -n 5 "$dir/last.out" "$dir/last.err" | tr '\n' ' ')"
    fi
    kill_marked "$mark\$"
  done
}

# ---------------------------------------------------------------- fuzzer
fuzz_campaign() {
  row "fuzz: panics/crashes"
  row "fuzz: hangs (> 10 s)"
  row "fuzz: unlocated rejections"
  row "fuzz: other exit codes"
  local seeds="$WORK/seeds" f n=0
  mkdir -p "$seeds"
  while IFS= read -r f; do
    n=$((n + 1))
    cp "$f" "$seeds/example$n.yaml"
  done < <(find "$REPO_DIR/examples" -name baton.yaml | sort)
  for f in run config nodes apply conc; do
    [ -f "$WORK/$f/baton.yaml" ] && cp "$WORK/$f/baton.yaml" "$seeds/$f.yaml"
  done
  [ -n "$(ls "$seeds")" ] || (cd "$seeds" && "$BATON" init >/dev/null 2>&1 && mv baton.yaml init.yaml)
  local res
  res=$("$PY" - "$BATON" "$seeds" "$WORK/fuzz" "$OUT/fuzz" "$FUZZ" "$FUZZ_JOBS" "$FUZZ_SEED" <<'EOF'
import concurrent.futures, os, random, re, shutil, subprocess, sys

baton, seeds_dir, work, keep_dir, count, jobs, seed = sys.argv[1:8]
count, jobs, seed = int(count), int(jobs), int(seed)
seeds = [open(os.path.join(seeds_dir, f), "rb").read() for f in sorted(os.listdir(seeds_dir))]

HUGE = [b"20000000000000w", b"99999999999999999999999999999", b"-9223372036854775809",
        b"1e400", b"0x7fffffffffffffff", b"18446744073709551616s", b"-1", b"0", b".nan",
        b"999999999999h", b"1ms", b"0s", b"\"\"", b"~", b"[]", b"{}", b"*x", b"&x", b"!!binary x",
        b"'{{ vars.nope }}'", b"'{{'", b"'{% if %}'", b"'" + b"a" * 70000 + b"'"]
UNICODE = ["\u202e", "\ufeff", "\u0000", "\U0001f600", "e\u0301", "\u00a0", "\u2028", "\ud7ff",
           "\uffff", "\u0085"]
SCALAR = re.compile(rb"(:\s+)([^\s\[{#][^#\n]*)")

def mutate(rng, data, files):
    lines = data.split(b"\n")
    op = rng.choice(["del", "dup", "swap", "indent", "dedent", "tab", "nul", "bytes", "unicode",
                     "truncate", "scalar", "scalar", "scalar", "nest", "include_loop", "self_include",
                     "laughs", "long_line", "dup_key", "crlf", "anchor", "bad_utf8"])
    i = rng.randrange(len(lines)) if lines else 0
    if op == "del" and lines:
        del lines[i]
    elif op == "dup" and lines:
        lines.insert(i, lines[i])
    elif op == "swap" and len(lines) > 1:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == "indent" and lines:
        lines[i] = b" " * rng.choice([1, 2, 3, 8]) + lines[i]
    elif op == "dedent" and lines:
        lines[i] = lines[i][rng.choice([1, 2, 4]):]
    elif op == "tab" and lines:
        k = rng.randrange(len(lines[i]) + 1)
        lines[i] = lines[i][:k] + b"\t" + lines[i][k:]
    elif op == "nul" and lines:
        k = rng.randrange(len(lines[i]) + 1)
        lines[i] = lines[i][:k] + b"\0" + lines[i][k:]
    elif op == "bytes" and lines:
        k = rng.randrange(len(lines[i]) + 1)
        lines[i] = lines[i][:k] + os.urandom(rng.randrange(1, 8)) + lines[i][k:]
    elif op == "unicode" and lines:
        k = rng.randrange(len(lines[i]) + 1)
        u = rng.choice(UNICODE).encode("utf-8", "surrogatepass")
        lines[i] = lines[i][:k] + u + lines[i][k:]
    elif op == "bad_utf8" and lines:
        lines[i] = lines[i] + rng.choice([b"\xc3", b"\xff\xfe", b"\xed\xa0\x80", b"\xe2\x82"])
    elif op == "truncate":
        return data[:rng.randrange(len(data) + 1)], op
    elif op == "scalar":
        cands = [n for n, l in enumerate(lines) if SCALAR.search(l)]
        if cands:
            n = rng.choice(cands)
            lines[n] = SCALAR.sub(lambda m: m.group(1) + rng.choice(HUGE), lines[n], count=1)
    elif op == "nest":
        depth = rng.choice([100, 1000, 10000, 100000])
        kind = rng.choice(["flow_seq", "flow_map", "block"])
        if kind == "flow_seq":
            v = b"[" * depth + b"]" * depth
        elif kind == "flow_map":
            v = b"{a: " * depth + b"1" + b"}" * depth
        else:
            v = b"".join(b"\n" + b" " * (2 * d + 2) + b"k:" for d in range(min(depth, 3000))) + b" 1"
        lines.insert(i, b"vars: " + v if rng.random() < 0.5 else b"  x: " + v)
    elif op == "include_loop":
        files["b.yaml"] = b"include: [c.yaml]\n"
        files["c.yaml"] = b"include: [b.yaml, baton.yaml]\n"
        lines.insert(0, b"include: [b.yaml]")
    elif op == "self_include":
        lines.insert(0, rng.choice([b"include: [baton.yaml]", b"include: ['*.yaml']",
                                    b"include: [/dev/zero]", b"include: [../../../../etc/shadow]",
                                    b"include: [nope/*.yaml]", b"include: ['**/**/**']"]))
    elif op == "laughs":
        bomb = [b"x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for d in range(1, 10):
            bomb.append(b"x%d: &a%d [%s]" % (d, d, b", ".join([b"*a%d" % (d - 1)] * 9)))
        lines = [b"vars:"] + [b"  " + l for l in bomb] + [l for l in lines if not l.startswith(b"vars:")]
    elif op == "long_line" and lines:
        lines[i] = lines[i] + b"a" * rng.choice([10000, 1000000])
    elif op == "dup_key" and lines:
        top = [l for l in lines if re.match(rb"^[a-z]+:", l)]
        if top:
            lines.append(rng.choice(top))
    elif op == "crlf":
        return data.replace(b"\n", b"\r\n"), op
    elif op == "anchor" and lines:
        lines[i] = lines[i] + rng.choice([b" *undefined", b" <<: *nope", b" &dup &dup", b" !!int"])
    return b"\n".join(lines), op

LOCATED = re.compile(r"(-->\s*\S+:\d+:\d+)|(\S+:\d+:\d+)")
SUMMARY = re.compile(r"^error: \d+ problems? found")

def unlocated(stderr):
    blocks, cur = [], None
    for line in stderr.splitlines():
        if line.startswith("error:") or line.startswith("error["):
            if cur is not None:
                blocks.append(cur)
            cur = [line]
        elif cur is not None:
            cur.append(line)
    if cur is not None:
        blocks.append(cur)
    blocks = [b for b in blocks if not SUMMARY.match(b[0])]
    if not blocks:
        return True
    return any(not LOCATED.search("\n".join(b)) for b in blocks)

def case(n):
    rng = random.Random(seed * 1000003 + n)
    files = {}
    data = rng.choice(seeds)
    ops = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        data, op = mutate(rng, data, files)
        ops.append(op)
    d = os.path.join(work, "case%05d" % n)
    os.makedirs(d, exist_ok=True)
    files["baton.yaml"] = data
    for name, body in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(body)
    try:
        p = subprocess.run(["timeout", "10", baton, "-f", os.path.join(d, "baton.yaml"), "--color",
                            "never", "validate"], cwd=d, capture_output=True, timeout=60)
        rc, err = p.returncode, p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        rc, err = 124, ""
    kind = None
    if rc == 124:
        kind = "hang"
    elif rc == 101 or rc < 0 or rc >= 128 or "panicked" in err:
        kind = "panic"
    elif rc == 2 and unlocated(err):
        kind = "unlocated"
    elif rc not in (0, 2):
        kind = "other"
    if kind:
        k = os.path.join(keep_dir, "%s-%05d" % (kind, n))
        shutil.rmtree(k, ignore_errors=True)
        shutil.copytree(d, k)
        with open(os.path.join(k, "stderr.txt"), "w") as f:
            f.write("exit %d; mutations: %s\n%s" % (rc, " ".join(ops), err[-20000:]))
    shutil.rmtree(d, ignore_errors=True)
    return kind, rc

counts = {"panic": 0, "hang": 0, "unlocated": 0, "other": 0}
exits = {}
os.makedirs(work, exist_ok=True)
with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
    for kind, rc in pool.map(case, range(1, count + 1)):
        exits[rc] = exits.get(rc, 0) + 1
        if kind:
            counts[kind] += 1
print(counts["panic"], counts["hang"], counts["unlocated"], counts["other"], ", ".join("exit %d: %d" % kv for kv in sorted(exits.items())))
EOF
)
  local panics hangs unloc other exits
  read -r panics hangs unloc other exits <<<"$res"
  note "fuzz: $FUZZ cases, $exits"
  tried "fuzz: panics/crashes" "$FUZZ"
  tried "fuzz: hangs (> 10 s)" "$FUZZ"
  tried "fuzz: unlocated rejections" "$FUZZ"
  tried "fuzz: other exit codes" "$FUZZ"
  failed "fuzz: panics/crashes" "${panics:-0}"
  failed "fuzz: hangs (> 10 s)" "${hangs:-0}"
  failed "fuzz: unlocated rejections" "${unloc:-0}"
  failed "fuzz: other exit codes" "${other:-0}"
  [ -n "$res" ] || note "fuzz: the fuzzer printed nothing (it failed)"
}

# ---------------------------------------------------------------- main
echo "== torture: baton $BATON ($("$BATON" --version 2>/dev/null))"
echo "   TRIALS=$TRIALS CONC=$CONC x $CONC_ROUNDS FUZZ=$FUZZ (jobs $FUZZ_JOBS, seed $FUZZ_SEED); failing cases under $OUT"
begin=$(date +%s)
[ -n "${SKIP_RUN:-}" ] || { echo "-- run kill -9" >&2; kill_campaign run "run"; }
[ -n "${SKIP_CONFIG:-}" ] || { echo "-- config (local) kill -9" >&2; kill_campaign config "config local"; }
if [ -z "${SKIP_NODES:-}" ]; then
  if [ "$(id -u)" -ne 0 ] || [ ! -x /usr/sbin/sshd ]; then
    note "config nodes: left out (needs root and /usr/sbin/sshd)"
  else
    while [ -n "$(ss -Hltn "sport = :$NODE_PORT" 2>/dev/null)" ]; do NODE_PORT=$((NODE_PORT + 1)); done
    export NODE_PORT
    echo "-- config (2 ssh nodes) kill -9" >&2
    if "$BENCH_DIR/nodes.sh" start 2 >"$WORK/nodes.log" 2>&1; then
      NODES_UP=1
      kill_campaign nodes "config nodes"
      "$BENCH_DIR/nodes.sh" stop >/dev/null 2>&1
      NODES_UP=
    else
      note "config nodes: bench/nodes.sh start 2 failed: $(tail -n 2 "$WORK/nodes.log" | tr '\n' ' ')"
    fi
  fi
fi
NODES_YAML=
[ -n "${SKIP_APPLY:-}" ] || { echo "-- apply kill -9" >&2; kill_campaign apply "apply"; }
[ -n "${SKIP_CONC:-}" ] || { echo "-- concurrency" >&2; conc_campaign; }
[ -n "${SKIP_FUZZ:-}" ] || { echo "-- fuzz" >&2; fuzz_campaign; }

echo
width=10
for r in "${ROWS[@]}"; do [ "${#r}" -gt "$width" ] && width=${#r}; done
printf "%-${width}s  %8s  %8s\n" "check" "trials" "failures"
printf '%s\n' "$(printf -- '-%.0s' $(seq 1 $((width + 20))))"
total=0
for r in "${ROWS[@]}"; do
  mark=""
  [ "${FAIL[$r]}" -gt 0 ] && mark="  <--"
  printf "%-${width}s  %8d  %8d%s\n" "$r" "${TR[$r]}" "${FAIL[$r]}" "$mark"
  total=$((total + FAIL[$r]))
done
printf '%s\n' "$(printf -- '-%.0s' $(seq 1 $((width + 20))))"
printf "%-${width}s  %8s  %8d\n" "total" "" "$total"
echo
for n in "${NOTES[@]}"; do echo "note: $n"; done
echo "took $(($(date +%s) - begin)) s; failing cases kept under $OUT"
exit 0
