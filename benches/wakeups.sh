#!/usr/bin/env bash
# Context switches, CPU migrations, CPU time and system calls (fdatasync,
# futex, epoll_wait, recvfrom, writev, write; where perf can read the
# syscall tracepoints) per message of one origuard
# binary (issue 27): `perf stat -p` over `origuard serve` (audit `batch`)
# while `origuard bench` offers the mixed capture open loop at RATE msg/s
# for SECONDS over CONNS sessions. A fixed offered load makes per-message
# counts comparable between binaries on a loaded machine.
#
# Usage: benches/wakeups.sh [BINARY] [SECONDS]
#   BINARY defaults to target/release/origuard; SECONDS to 5.
# Environment: RATE (default 20000), CONNS (default 4), SYNC (batch|none),
#   POLICY (default the example policy; an older binary may need its own).
# Loopback only; bounded by SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-$PWD/target/release/origuard}
DUR=${2:-5}
RATE=${RATE:-20000}
CONNS=${CONNS:-4}
SYNC=${SYNC:-batch}
command -v perf >/dev/null || { echo "perf is not installed" >&2; exit 1; }
. benches/common.sh
"$B" gen --count 8000 --seed 42 --direction outbound --mix mixed "$T/mixed" 2>/dev/null
F=$(port); U=$(port)
serve_config "$T/o.toml" "$F" "$U" "$T/audit.jsonl" "$SYNC" "$P"
"$B" serve --config "$T/o.toml" 2>"$T/serve.log" & OP=$!; PIDS+=("$OP")
wait_port "$F"
EV=context-switches,cpu-migrations,task-clock
if perf list 'syscalls:sys_enter_fdatasync' 2>/dev/null | grep -q fdatasync; then
  for s in fdatasync futex epoll_wait recvfrom writev write; do EV=$EV,syscalls:sys_enter_$s; done
fi
perf stat -x, -e "$EV" -p "$OP" -o "$T/perf" &
PP=$!
R=$("$B" bench --capture "$T/mixed" --json --target "127.0.0.1:$F" --listen "127.0.0.1:$U" \
  --policy "$P" --rate "$RATE" --duration "${DUR}s" --connections "$CONNS" || true)
kill -INT "$PP"; wait "$PP" 2>/dev/null || true
python3 - "$T/perf" "$R" <<'PY'
import json, sys
r = json.loads(sys.argv[2])
n = r.get("passed", 0) + r.get("changed", 0)
vals = {}
for line in open(sys.argv[1]):
    f = line.strip().split(",")
    if len(f) > 2 and f[0] and not line.startswith("#"):
        try:
            vals[f[2]] = float(f[0])
        except ValueError:
            pass
cs, mig, ms = vals.get("context-switches", 0), vals.get("cpu-migrations", 0), vals.get("task-clock", 0)
print(f"messages {n} ({r['msgs_per_sec']:.0f} msg/s, missing {r['missing']}, unexpected {r['unexpected']}); "
      f"per message: context switches {cs / n:.3f}, migrations {mig / n:.4f}, CPU {ms * 1000 / n:.2f} µs")
calls = [(k.split("sys_enter_")[1], v) for k, v in vals.items() if "sys_enter_" in k]
if calls:
    print("system calls per message: " + ", ".join(f"{k} {v / n:.3f}" for k, v in calls))
PY
