#!/usr/bin/env bash
# `sudo make demo`: difw protecting a network namespace, then (when present) the identity lab demo.
set -euo pipefail
cd "$(dirname "$0")/.."
DIFW="$PWD/bin/difw"
S=difw-demo-srv C=difw-demo-cli
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  ip netns exec $S "$DIFW" --force disable >/dev/null 2>&1 || true
  [ -n "${LPID:-}" ] && kill "$LPID" 2>/dev/null || true
  ip netns del $S 2>/dev/null || true
  ip netns del $C 2>/dev/null || true
}
trap cleanup EXIT
cleanup

say "Two hosts: server $S (198.18.10.1) and client $C (198.18.10.2, .3)"
ip netns add $S; ip netns add $C
ip link add dd-srv netns $S type veth peer name dd-cli netns $C
ip -n $S link set lo up; ip -n $C link set lo up
ip -n $S link set dd-srv up; ip -n $C link set dd-cli up
ip -n $S addr add 198.18.10.1/24 dev dd-srv
ip -n $C addr add 198.18.10.2/24 dev dd-cli
ip -n $C addr add 198.18.10.3/24 dev dd-cli
ip netns exec $S python3 ../shared/tools/fwdiff/listener.py '{"tcp":[22,80,8080,8081],"udp":[53]}' >/dev/null 2>&1 &
LPID=$!
sleep 0.5

probe() { # probe SRC PROTO PORT
  echo "[{\"src\":\"$1\",\"dst\":\"198.18.10.1\",\"proto\":\"$2\",\"port\":$3}]" |
    ip netns exec $C python3 ../shared/tools/fwdiff/probe.py | tr -d '[]"'
}
show() { printf '  %-14s -> %-9s %s\n' "$1" "$2/$3" "$(probe "$1" "$2" "$3")"; }

say "Rules (ufw syntax, enforced by XDP/TC)"
run() { echo "  \$ difw $*"; ip netns exec $S "$DIFW" "$@" | sed 's/^/    /'; }
run --force reset >/dev/null
run default deny incoming
run allow 80/tcp
run limit 22/tcp
run reject 8081/tcp
run deny from 198.18.10.3
run allow 53/udp
run --force enable
run status verbose

say "Traffic from the client"
show 198.18.10.2 tcp 80
show 198.18.10.2 tcp 8080
show 198.18.10.2 tcp 8081
show 198.18.10.2 udp 53
show 198.18.10.3 tcp 80
say "limit 22/tcp: the 6th connection within 30 s is refused"
for i in 1 2 3 4 5 6 7; do printf '  ssh attempt %d: %s\n' $i "$(probe 198.18.10.2 tcp 22)"; done

say "What the datapath logged (difw log)"
sleep 0.3
ip netns exec $S "$DIFW" log | tail -n 8 | sed 's/^/  /'

say "Disable: everything is open again"
run --force disable
show 198.18.10.2 tcp 8080
trap - EXIT
cleanup

if [ -x scripts/demo-lab.sh ]; then bash scripts/demo-lab.sh; fi
