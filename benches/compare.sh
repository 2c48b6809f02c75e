#!/usr/bin/env bash
# Side-by-side load comparison, one run, same machine, same capture:
#   (a) no proxy  (b) HAProxy mode tcp  (c) origuard, audit batch (default)
#   (c') origuard, audit sync off  (d) origuard with mutual TLS on both sides
# at saturation (--rate max) and at a fixed 20,000 msg/s for latency, plus
# origuard's peak RSS with 1,000 concurrent sessions.
# Usage: benches/compare.sh [SECONDS]   (length of each run, default 5)
# Installs haproxy from Debian packages if missing. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}
RATE=20000
CONNS=4
command -v haproxy >/dev/null || { apt-get update -qq && apt-get install -y -qq haproxy >/dev/null; }
cargo build --release --quiet
B=$PWD/target/release/origuard
P=$PWD/deploy/policy/colorado.toml
T=$(mktemp -d)
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$T"' EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
$B gen --count 4000 --seed 42 --direction outbound "$T/cap" 2>/dev/null
deploy/gen-test-certs.sh "$T/certs" >/dev/null
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 not up" >&2; return 1; }
# A run with messages missing still prints its JSON (exit 1): record it.
bench() { $B bench --capture "$T/cap" --json "$@" || true; }

results="$T/results.jsonl"; : > "$results"
record() { # name mode json
  python3 -c 'import json,sys; d=json.loads(sys.argv[3]); d["name"]=sys.argv[1]; d["mode"]=sys.argv[2]; print(json.dumps(d))' "$1" "$2" "$3" >> "$results"
}

# (a) no proxy
record none max "$(bench --target self --duration "${DUR}s" --connections $CONNS)"
record none rate "$(bench --target self --rate $RATE --duration "${DUR}s" --connections $CONNS)"

# (b) HAProxy mode tcp
F=$(port); U=$(port)
cat > "$T/haproxy.cfg" <<CFG
global
  maxconn 4000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend f
  bind 127.0.0.1:$F
  default_backend b
backend b
  server s 127.0.0.1:$U
CFG
haproxy -f "$T/haproxy.cfg" -db >/dev/null 2>&1 & HP=$!
wait_port "$F"
record haproxy max "$(bench --target 127.0.0.1:$F --listen 127.0.0.1:$U --duration "${DUR}s" --connections $CONNS)"
record haproxy rate "$(bench --target 127.0.0.1:$F --listen 127.0.0.1:$U --rate $RATE --duration "${DUR}s" --connections $CONNS)"
kill $HP; wait $HP 2>/dev/null || true

# (c) origuard, plaintext, audit batch (default) and audit none
for sync in batch none; do
  F=$(port); U=$(port)
  $B serve --listen 127.0.0.1:$F --upstream 127.0.0.1:$U --policy "$P" --audit "$T/audit-$sync.jsonl" \
    --audit-sync $sync --metrics off --drain-timeout 2s --dial on_accept 2>"$T/serve-$sync.log" & OP=$!
  wait_port "$F"
  record "origuard-audit-$sync" max "$(bench --target 127.0.0.1:$F --listen 127.0.0.1:$U --policy "$P" --duration "${DUR}s" --connections $CONNS)"
  record "origuard-audit-$sync" rate "$(bench --target 127.0.0.1:$F --listen 127.0.0.1:$U --policy "$P" --rate $RATE --duration "${DUR}s" --connections $CONNS)"
  kill $OP; wait $OP 2>/dev/null || true
done

# (d) origuard, mutual TLS on both sides, audit batch
F=$(port); U=$(port)
cat > "$T/tls.toml" <<CFG
[policy]
file = "$P"
watch = false
[audit]
file = "$T/audit-tls.jsonl"
[admin]
listen = "off"
[limits]
drain_timeout = "2s"
[[link]]
name = "bench"
listen = "127.0.0.1:$F"
upstream = "127.0.0.1:$U"
dial = "on_accept"
[link.switch_tls]
cert = "$T/certs/proxy.pem"
key = "$T/certs/proxy.key"
client_ca = "$T/certs/ca.pem"
[link.nlets_tls]
ca = "$T/certs/ca.pem"
server_name = "nlets.test"
cert = "$T/certs/proxy-client.pem"
key = "$T/certs/proxy-client.key"
CFG
$B serve --config "$T/tls.toml" 2>"$T/serve-tls.log" & OP=$!
wait_port "$F"
record origuard-tls max "$(bench --target 127.0.0.1:$F --listen 127.0.0.1:$U --policy "$P" --tls "$T/certs" --duration "${DUR}s" --connections $CONNS)"
record origuard-tls rate "$(bench --target 127.0.0.1:$F --listen 127.0.0.1:$U --policy "$P" --tls "$T/certs" --rate $RATE --duration "${DUR}s" --connections $CONNS)"
kill $OP; wait $OP 2>/dev/null || true

# Peak RSS with 1,000 concurrent sessions (audit batch), 10 s at 2,000 msg/s.
F=$(port); U=$(port)
$B serve --listen 127.0.0.1:$F --upstream 127.0.0.1:$U --policy "$P" --audit "$T/audit-rss.jsonl" \
  --metrics off --drain-timeout 2s --dial on_accept 2>"$T/serve-rss.log" & OP=$!
wait_port "$F"
R=$(bench --target 127.0.0.1:$F --listen 127.0.0.1:$U --policy "$P" --rate 2000 --duration 10s --connections 1000)
record origuard-1000-sessions rate "$R"
RSS=$(awk '/VmHWM/ {print $2}' /proc/$OP/status)
cp "$T/serve-rss.log" /tmp/compare-serve-rss.log 2>/dev/null || true
kill $OP; wait $OP 2>/dev/null || true

python3 - "$results" "$RSS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rss = int(sys.argv[2])
def get(name, mode):
    return next(r for r in rows if r["name"] == name and r["mode"] == mode)
print(f"{'setup':<26}{'mode':<6}{'msg/s':>9}{'MB/s':>8}{'p50 µs':>9}{'p99 µs':>9}{'p99.9 µs':>10}{'max µs':>9}{'missing':>8}{'unexp':>6}")
for r in rows:
    print(f"{r['name']:<26}{r['mode']:<6}{r['msgs_per_sec']:>9.0f}{r['mb_per_sec']:>8.1f}{r['p50_us']:>9.0f}{r['p99_us']:>9.0f}{r['p999_us']:>10.0f}{r['max_us']:>9.0f}{r['missing']:>8}{r['unexpected']:>6}")
h = get("haproxy", "max"); n = get("none", "rate")
print()
for name in ["origuard-audit-batch", "origuard-audit-none", "origuard-tls"]:
    m = get(name, "max"); r = get(name, "rate")
    print(f"{name:<22} throughput / HAProxy = {m['msgs_per_sec']/h['msgs_per_sec']:.2f}   "
          f"p99 at {r['msgs_per_sec']:.0f} msg/s: {r['p99_us']:.0f} µs, added over no proxy {r['p99_us']-n['p99_us']:.0f} µs "
          f"(HAProxy adds {get('haproxy','rate')['p99_us']-n['p99_us']:.0f} µs)")
print(f"\noriguard peak RSS with 1,000 sessions: {rss/1024:.1f} MiB")
lost = sum(r["missing"] + r["unexpected"] for r in rows)
print(f"messages lost or unexpected over all runs: {lost}")
PY
