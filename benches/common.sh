# Shared by the load scripts in benches/ (sourced, not run).
#   P, BP   the policy (POLICY, default the example policy); BEFORE_POLICY
#           (default P) for a BEFORE binary
#   T       scratch directory;  PIDS  processes killed on exit
#   build_relays   builds origuard and the limit relay (release) into B and
#                  LR, and installs haproxy from Debian packages if missing
#   port, wait_port PORT, stop PID, fsync_probe (median fdatasync of a 4 KiB
#   append in T, µs), serve_config FILE LISTEN UPSTREAM AUDIT SYNC POLICY
#   [WORKERS [AUDIT_LINES]] (an `origuard serve` config for one loopback link;
#   AUDIT_LINES: more `[audit]` keys, e.g. "preallocate = 0")
# Loopback only.
P=${POLICY:-$PWD/deploy/policy/colorado.toml}
BP=${BEFORE_POLICY:-$P}
T=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$T"; }
trap cleanup EXIT
build_relays() {
  command -v haproxy >/dev/null || { apt-get update -qq && apt-get install -y -qq haproxy >/dev/null; }
  cargo build --release --quiet --bin origuard --example limit_relay
  B=$PWD/target/release/origuard
  LR=$PWD/target/release/examples/limit_relay
}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 not up" >&2; return 1; }
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
serve_config() { # FILE LISTEN UPSTREAM AUDIT SYNC POLICY [WORKERS [AUDIT_LINES]]
  cat > "$1" <<CFG
[policy]
file = "$6"
watch = false
[audit]
file = "$4"
sync = "$5"
${8:-}
[admin]
listen = "off"
[limits]
drain_timeout = "2s"
decision_workers = ${7:-1}
[[link]]
name = "bench"
listen = "127.0.0.1:$2"
upstream = "127.0.0.1:$3"
dial = "on_accept"
CFG
}
fsync_probe() {
  python3 - "$T" <<'PY'
import os, sys, time, statistics
p = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
ts = []
for _ in range(200):
    os.write(fd, b"x" * 4096)
    t = time.perf_counter(); os.fdatasync(fd); ts.append(time.perf_counter() - t)
os.close(fd); os.unlink(p)
print(f"{statistics.median(ts) * 1e6:.0f}")
PY
}
