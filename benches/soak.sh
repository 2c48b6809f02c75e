#!/usr/bin/env bash
# Soak: origuard under steady load, RSS sampled every 10 s; fails if memory
# keeps growing. Not part of CI (it takes minutes).
# Usage: benches/soak.sh [MINUTES] [RATE] [CONNECTIONS]   (default 10 2000 100)
set -euo pipefail
cd "$(dirname "$0")/.."
MIN=${1:-10}; RATE=${2:-2000}; CONNS=${3:-100}
cargo build --release --quiet
B=$PWD/target/release/origuard; P=$PWD/deploy/policy/colorado.toml
T=$(mktemp -d); trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$T"' EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
$B gen --count 4000 --seed 7 --direction outbound "$T/cap" 2>/dev/null
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
F=$(port); U=$(port)
$B serve --listen 127.0.0.1:$F --upstream 127.0.0.1:$U --policy "$P" --audit "$T/audit.jsonl" --metrics off \
  --drain-timeout 2s --dial on_accept 2>"$T/serve.log" & OP=$!
sleep 0.5
$B bench --target 127.0.0.1:$F --listen 127.0.0.1:$U --capture "$T/cap" --policy "$P" --rate "$RATE" \
  --duration "${MIN}m" --connections "$CONNS" --json > "$T/bench.json" & BP=$!
: > "$T/rss"
while kill -0 $BP 2>/dev/null; do
  sleep 10
  awk '/VmRSS/ {print $2}' /proc/$OP/status >> "$T/rss" 2>/dev/null || true
done
wait $BP || true
kill $OP; wait $OP 2>/dev/null || true
python3 - "$T/rss" "$T/bench.json" <<'PY'
import json, sys
rss = [int(x) for x in open(sys.argv[1]) if x.strip()]
b = json.load(open(sys.argv[2]))
print("RSS samples (KiB, every 10 s):", " ".join(map(str, rss)))
# Memory rises in steps while buffers and allocator arenas reach their
# working size, then must stay flat: judge the slope over the last third
# (least squares), in MiB per minute, and report the plateau.
third = max(len(rss) // 3, 2)
tail = rss[-third:]
n = len(tail)
xs = [i * 10 / 60 for i in range(n)]  # minutes
mx, my = sum(xs) / n, sum(tail) / n
slope = sum((x - mx) * (y - my) for x, y in zip(xs, tail)) / max(sum((x - mx) ** 2 for x in xs), 1e-9) / 1024
print(f"samples {len(rss)}  RSS min {min(rss)/1024:.1f} MiB  max {max(rss)/1024:.1f} MiB  "
      f"last third {min(tail)/1024:.1f}-{max(tail)/1024:.1f} MiB, slope {slope:+.2f} MiB/min")
print(f"sent {b['sent']} arrived {b['passed'] + b['changed']} missing {b['missing']} unexpected {b['unexpected']} "
      f"p99 {b['p99_us']:.0f} µs")
ok = slope < 0.5 and b["missing"] == 0 and b["unexpected"] == 0
print("PASS" if ok else "FAIL: memory grows or messages were lost")
sys.exit(0 if ok else 1)
PY
