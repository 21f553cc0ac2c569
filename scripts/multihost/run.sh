#!/usr/bin/env bash
# A multi-host icnet testnet on one machine: one network namespace per node,
# joined by one switch, with delay, jitter and loss on every hop between nodes,
# and the XNet SLO workload across it.
#
#   scripts/multihost/run.sh test   [flags]   up, run the SLO workload, down (always); exit 0 iff the SLO holds
#   scripts/multihost/run.sh up     [flags]   genesis, namespaces, links, one replica per namespace; leaves it running
#   scripts/multihost/run.sh slo    [--duration S] [--rate R]   the SLO workload on a running net
#   scripts/multihost/run.sh netem  --delay-ms D --jitter-ms J --loss-pct L   change the links of a running net
#   scripts/multihost/run.sh status
#   scripts/multihost/run.sh down             stop every process, delete every namespace and link (idempotent)
#
# Flags (defaults): --subnets 2 --nodes 4 --delay-ms 25 --jitter-ms 5 --loss-pct 0.5
#   --duration 90 --rate 10 --keep (test: keep the state dir)
#   --link auto|netem|wire|bridge: netem = veth + bridge + tc netem; wire = wire.py, a userspace
#   switch with the same impairment (auto picks it where the kernel has no sch_netem);
#   bridge = veth + bridge, no impairment
#
# Every name it creates starts with "icnmh-" (namespaces icnmh-sw, icnmh-n0, ...);
# the links, bridge and addresses (10.231.0.0/24) exist only inside those
# namespaces, so nothing on the machine's own network changes and no packet
# leaves the machine. Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN); without it, or
# where namespaces cannot be made, it prints a SKIP line and exits 0.
set -euo pipefail

PREFIX=icnmh
NET=10.231.0
FIRST_HOST=10
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/scripts/multihost"
CLI="$ROOT/packages/replica/dist/src/cli/index.js"
STATE=${ICNET_MULTIHOST_DIR:-/tmp/icnet-multihost}
SW="$PREFIX-sw"

SUBNETS=2 NODES=4 DELAY_MS=25 JITTER_MS=5 LOSS_PCT=0.5 DURATION=90 RATE=10 LINK=auto KEEP=0

say () { echo "multihost: $*" >&2; }
die () { say "error: $*"; exit 1; }
skip () { echo "SKIP multihost: $*"; exit 0; }

parse_flags () {
  while [ $# -gt 0 ]; do
    case "$1" in
      --subnets) SUBNETS=$2; shift 2 ;;
      --nodes) NODES=$2; shift 2 ;;
      --delay-ms) DELAY_MS=$2; shift 2 ;;
      --jitter-ms) JITTER_MS=$2; shift 2 ;;
      --loss-pct) LOSS_PCT=$2; shift 2 ;;
      --duration) DURATION=$2; shift 2 ;;
      --rate) RATE=$2; shift 2 ;;
      --link) LINK=$2; shift 2 ;;
      --keep) KEEP=1; shift ;;
      *) die "unknown flag $1 (see the head of $0)" ;;
    esac
  done
}

our_namespaces () { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$PREFIX-" || true; }

# ---- preflight: can this machine do it at all? ----

preflight () {
  [ "$(uname -s)" = Linux ] || skip "network namespaces need Linux (this is $(uname -s))"
  if ! command -v ip >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "installing iproute2"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null \
        || skip "'ip' (iproute2) is missing and could not be installed"
    else
      skip "'ip' (iproute2) is missing; install it (apt-get install iproute2) and run as root"
    fi
  fi
  local probe="$PREFIX-probe$$" err
  if ! err=$(ip netns add "$probe" 2>&1); then
    skip "cannot create network namespaces here (needs root or CAP_NET_ADMIN + CAP_SYS_ADMIN): $err"
  fi
  if ! err=$(ip -n "$probe" link add p0 type veth peer name p1 2>&1); then
    ip netns del "$probe" 2>/dev/null || true
    skip "cannot create veth links inside a namespace: $err"
  fi
  local netem=0
  if ip -n "$probe" link set p0 up 2>/dev/null && ip netns exec "$probe" tc qdisc add dev p0 root netem delay 1ms loss 0.1% 2>/dev/null; then netem=1; fi
  ip netns del "$probe"
  case "$LINK" in
    auto)
      if [ $netem = 1 ]; then LINK=netem
      elif command -v python3 >/dev/null && [ -c /dev/net/tun ]; then LINK=wire
        say "this kernel has no sch_netem (tc netem); links are emulated in user space by wire.py (same delay, jitter and loss per hop)"
      else skip "neither tc netem (kernel sch_netem) nor python3 with /dev/net/tun is available to impair the links"
      fi ;;
    netem) [ $netem = 1 ] || skip "--link netem: this kernel has no sch_netem (tc qdisc ... netem fails)" ;;
    wire) { command -v python3 >/dev/null && [ -c /dev/net/tun ]; } || skip "--link wire needs python3 and /dev/net/tun" ;;
    bridge) DELAY_MS=0 JITTER_MS=0 LOSS_PCT=0 ;;
    *) die "--link must be auto, netem, wire or bridge" ;;
  esac
  [ -f "$CLI" ] || die "the replica is not built ($CLI missing): run npx tsc -b packages/replica"
  command -v node >/dev/null || die "node is not on PATH"
}

# ---- topology ----

node_ns () { echo "$PREFIX-n$1"; }

impair_netem () {
  local k=0
  while [ $k -lt $((SUBNETS * NODES)) ]; do
    if [ "$DELAY_MS" = 0 ] && [ "$LOSS_PCT" = 0 ]; then
      ip netns exec "$(node_ns $k)" tc qdisc del dev eth0 root 2>/dev/null || true
    else
      ip netns exec "$(node_ns $k)" tc qdisc replace dev eth0 root netem \
        delay "${DELAY_MS}ms" "${JITTER_MS}ms" distribution normal loss "${LOSS_PCT}%"
    fi
    k=$((k + 1))
  done
}

write_params () {
  printf '{"delay_ms": %s, "jitter_ms": %s, "loss_pct": %s}\n' "$DELAY_MS" "$JITTER_MS" "$LOSS_PCT" > "$STATE/wire-params.json"
}

create_topology () {
  local n=$((SUBNETS * NODES)) k
  ip netns add "$SW"
  ip -n "$SW" link set lo up
  for k in $(seq 0 $((n - 1))); do
    ip netns add "$(node_ns $k)"
    ip -n "$(node_ns $k)" link set lo up
    ip netns exec "$(node_ns $k)" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true
  done
  if [ "$LINK" = netem ] || [ "$LINK" = bridge ]; then
    # A bridge in the switch namespace, one veth pair per node; netem on each node's egress.
    ip -n "$SW" link add br0 type bridge
    ip -n "$SW" link set br0 up
    ip -n "$SW" addr add "$NET.1/24" dev br0
    for k in $(seq 0 $((n - 1))); do
      ip -n "$SW" link add "h$k" type veth peer name eth0 netns "$(node_ns $k)"
      ip -n "$SW" link set "h$k" master br0 up
    done
  else
    # wire.py opens a TAP eth0 in every node namespace and an observer TAP obs0 in the switch namespace.
    write_params
    local ports=() ready="$STATE/wire.ready"
    for k in $(seq 0 $((n - 1))); do ports+=(--port "$(node_ns $k)"); done
    rm -f "$ready"
    # The switch stands for a network, not a host: it must not queue behind busy replicas for CPU,
    # so it runs at a real-time priority (it only wakes for frames; the kernel caps RT time anyway).
    local prio=()
    if command -v chrt >/dev/null && chrt -f 1 true 2>/dev/null; then prio=(chrt -f 1); fi
    ip netns exec "$SW" "${prio[@]}" python3 "$HERE/wire.py" "${ports[@]}" --observer obs0 \
      --params "$STATE/wire-params.json" --stats "$STATE/wire-stats.json" --ready "$ready" >> "$STATE/wire.log" 2>&1 < /dev/null &
    for _ in $(seq 1 50); do [ -f "$ready" ] && break; sleep 0.2; done
    [ -f "$ready" ] || die "wire.py did not start (see $STATE/wire.log)"
    ip -n "$SW" addr add "$NET.1/24" dev obs0
    ip -n "$SW" link set obs0 up
  fi
  while read -r name host; do
    local s=${name%-*} i=${name#*-}
    k=$((s * NODES + i))
    ip -n "$(node_ns $k)" addr add "$host/24" dev eth0
    ip -n "$(node_ns $k)" link set eth0 up
  done < "$STATE/testnet/hosts.txt"
  if [ "$LINK" = netem ]; then impair_netem; fi
  say "$n namespaces on $NET.0/24 via $LINK links: delay ${DELAY_MS} ms +/- ${JITTER_MS} ms, loss ${LOSS_PCT}% per hop"
}

start_replicas () {
  local name host s i k
  while read -r name host; do
    s=${name%-*} i=${name#*-}
    k=$((s * NODES + i))
    ip netns exec "$(node_ns $k)" node "$CLI" replica --config "$STATE/testnet/nodes/$name/config.json" \
      >> "$STATE/testnet/nodes/$name/replica.log" 2>&1 < /dev/null &
  done < "$STATE/testnet/hosts.txt"
  say "started $((SUBNETS * NODES)) replicas (logs: $STATE/testnet/nodes/*/replica.log)"
}

# Driver commands run in the switch namespace, the only place that reaches the nodes.
driver () { ip netns exec "$SW" node "$HERE/slo.mjs" "$@"; }

save_settings () {
  printf 'SUBNETS=%s\nNODES=%s\nLINK=%s\nDELAY_MS=%s\nJITTER_MS=%s\nLOSS_PCT=%s\n' \
    "$SUBNETS" "$NODES" "$LINK" "$DELAY_MS" "$JITTER_MS" "$LOSS_PCT" > "$STATE/settings"
}

load_settings () {
  [ -f "$STATE/settings" ] && [ -n "$(our_namespaces)" ] || die "no multihost net is running (start one with: $0 up)"
  # shellcheck disable=SC1091
  . "$STATE/settings"
}

# ---- commands ----

cmd_down () {
  local nss ns pids=() p
  nss=$(our_namespaces)
  # Replicas first (a graceful stop), the switch last.
  for ns in $(echo "$nss" | grep -v "^$SW\$") $(echo "$nss" | grep "^$SW\$"); do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$p" 2>/dev/null && pids+=("$p"); done
  done
  for _ in $(seq 1 60); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.25
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for ns in $nss; do ip netns del "$ns" 2>/dev/null || true; done
  if [ -n "$nss" ]; then say "down: stopped ${#pids[@]} processes, deleted $(echo "$nss" | wc -w) namespaces"; fi
  return 0
}

cmd_up () {
  preflight
  cmd_down
  rm -rf "$STATE/testnet" "$STATE"/wire-*
  mkdir -p "$STATE"
  node "$HERE/slo.mjs" init --dir "$STATE/testnet" --subnets "$SUBNETS" --nodes "$NODES" --net "$NET" --first-host "$FIRST_HOST" --rate "$RATE"
  create_topology
  save_settings
  start_replicas
  driver wait --dir "$STATE/testnet" --timeout 240
  say "up: $SUBNETS subnets x $NODES nodes (driver namespace $SW reaches them at $NET.$FIRST_HOST..)"
}

cmd_netem () {
  load_settings
  parse_flags "$@"
  save_settings
  case "$LINK" in
    netem) impair_netem ;;
    wire) write_params; kill -HUP "$(cat "$STATE/wire.ready")" ;;
    *) die "--link $LINK cannot impair its links" ;;
  esac
  say "links now: delay ${DELAY_MS} ms +/- ${JITTER_MS} ms, loss ${LOSS_PCT}% per hop"
}

cmd_status () {
  load_settings
  say "$SUBNETS subnets x $NODES nodes, $LINK links: delay ${DELAY_MS} ms +/- ${JITTER_MS} ms, loss ${LOSS_PCT}% per hop"
  say "namespaces: $(our_namespaces | tr '\n' ' ')"
  if [ "$LINK" = wire ] && [ -f "$STATE/wire-stats.json" ]; then say "wire: $(cat "$STATE/wire-stats.json")"; fi
  driver status --dir "$STATE/testnet"
}

cmd_slo () {
  load_settings
  local started=$SECONDS rc=0 far="$((SUBNETS - 1))-$((NODES - 1))" rtt result
  # The path between two nodes (0-0 and the last node of the last subnet), measured before the load.
  rtt=$(ip netns exec "$(node_ns 0)" node "$HERE/slo.mjs" rtt --dir "$STATE/testnet" --to "$far" --count 40 || echo '{}')
  say "TCP connect round trips 0-0 -> $far: $rtt"
  driver run --dir "$STATE/testnet" --duration "$DURATION" --rate "$RATE" > "$STATE/slo.json" || rc=$?
  driver metrics --dir "$STATE/testnet" || true
  # The SLO result plus how it was measured, as one JSON line (the last line of stdout).
  result=$(RESULT="$(tail -n 1 "$STATE/slo.json")" RTT="$rtt" WIRE="$(cat "$STATE/wire-stats.json" 2>/dev/null || echo null)" \
    LINK="$LINK" DELAY_MS="$DELAY_MS" JITTER_MS="$JITTER_MS" LOSS_PCT="$LOSS_PCT" SUBNETS="$SUBNETS" NODES="$NODES" \
    RUN_S="$((SECONDS - started))" LOADAVG="$(cut -d' ' -f1-3 /proc/loadavg)" node -e '
      const e = process.env
      const r = JSON.parse(e.RESULT || "{}")
      const wire = JSON.parse(e.WIRE || "null")
      r.network = {
        hosts: Number(e.SUBNETS) * Number(e.NODES), subnets: Number(e.SUBNETS), nodes_per_subnet: Number(e.NODES),
        link: e.LINK, per_hop: { delay_ms: Number(e.DELAY_MS), jitter_ms: Number(e.JITTER_MS), loss_pct: Number(e.LOSS_PCT) },
        tcp_rtt_ms: JSON.parse(e.RTT || "{}"),
        ...(wire ? { wire: { frames: wire.impaired_sends ?? 0, dropped: wire.dropped_loss ?? 0,
          loss_pct_measured: wire.impaired_sends ? 100 * (wire.dropped_loss ?? 0) / wire.impaired_sends : 0,
          bytes: wire.bytes_out ?? 0, cpu_s: wire.cpu_s ?? 0 } } : {}),
        run_s: Number(e.RUN_S), load_avg: e.LOADAVG
      }
      console.log(JSON.stringify(r))') || result=$(tail -n 1 "$STATE/slo.json")
  echo "$result"
  say "SLO run took $((SECONDS - started)) s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ $rc = 0 ]; then say "PASS: failures < 5%, 0 sequence errors, mean latency <= 20 s on every subnet"
  else say "FAIL (exit $rc): $(echo "$result" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).problems.join("; "))}catch{console.log("no result")}})'); replica logs in $STATE/testnet/nodes"
  fi
  return $rc
}

cmd_test () {
  local rc=0
  preflight
  trap 'cmd_down; say "torn down; the whole run took $SECONDS s"' EXIT
  trap 'say "interrupted"; exit 130' INT TERM
  cmd_up
  cmd_slo || rc=$?
  # A passing run leaves nothing behind; a failing one keeps the logs and metrics for a post-mortem.
  if [ $rc = 0 ] && [ $KEEP = 0 ]; then
    rm -rf "$STATE/testnet" "$STATE/settings" "$STATE/slo.json" "$STATE"/wire-params.json "$STATE"/wire-stats.json* "$STATE/wire.ready" "$STATE/wire.log"
    rmdir "$STATE" 2>/dev/null || true
  fi
  return $rc
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  up) parse_flags "$@"; trap 'rc=$?; [ $rc = 0 ] || { say "up failed; tearing down"; cmd_down; }' EXIT; trap 'exit 130' INT TERM; cmd_up ;;
  down) cmd_down ;;
  test) parse_flags "$@"; cmd_test ;;
  slo) parse_flags "$@"; cmd_slo ;;
  netem) cmd_netem "$@" ;;
  status) cmd_status ;;
  *) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
