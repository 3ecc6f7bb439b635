#!/usr/bin/env bash
# difw identity-mode demo: a two-node lab, a "beer of the day" server, one client the policy
# admits, one it does not, and an attacker on the fabric who steals the admitted client's
# address and is still refused, because identity is verified on the wire, not read from the IP.
# Runs with its own lab prefix (dd) and always tears the lab down.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
difw="$here/bin/difw"
export DIFW_LAB_PREFIX=dd
work=$(mktemp -d)
server_pid=""

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  "$difw" lab down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ]; then echo "Cannot run the lab demo: run it as root (sudo make demo)" >&2; exit 1; fi

SERVER_IP=198.19.2.10 ALICE_IP=198.19.1.10 BOB_IP=198.19.1.11

cat > "$work/lab.yaml" <<YAML
apiVersion: difw.io/v1
kind: Lab
metadata: {name: beer}
spec:
  nodes: [{name: node-1}, {name: node-2}]
---
apiVersion: v1
kind: Namespace
metadata: {name: pub}
---
apiVersion: v1
kind: Pod
metadata: {name: bar, namespace: pub, labels: {app: bar}, annotations: {difw.io/node: node-2}}
spec: {containers: [{name: bar, ports: [{name: beer, containerPort: 80}]}]}
status: {podIP: $SERVER_IP}
---
apiVersion: v1
kind: Pod
metadata: {name: alice, namespace: pub, labels: {role: regular}, annotations: {difw.io/node: node-1}}
status: {podIP: $ALICE_IP}
---
apiVersion: v1
kind: Pod
metadata: {name: bob, namespace: pub, labels: {role: stranger}, annotations: {difw.io/node: node-1}}
status: {podIP: $BOB_IP}
YAML

cat > "$work/policy.yaml" <<'YAML'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: regulars-only, namespace: pub}
spec:
  podSelector: {matchLabels: {app: bar}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {role: regular}}}]
    ports: [{port: beer}]
YAML

cat > "$work/bar.py" <<'PY'
import datetime, socket
beers = ["Orval", "Westmalle Tripel", "Saison Dupont", "Rochefort 10", "Duvel", "Tripel Karmeliet", "Chimay Blue"]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80)); s.listen(64)
print("ready", flush=True)
while True:
    c, (ip, _) = s.accept()
    try:
        c.sendall(f"beer of the day: {beers[datetime.date.today().toordinal() % len(beers)]}\n".encode())
    except OSError:
        pass
    c.close()
PY

cat > "$work/ask.py" <<'PY'
import socket, sys
src = sys.argv[2] if len(sys.argv) > 2 else None
s = socket.socket(); s.settimeout(2)
try:
    if src: s.bind((src, 0))
    s.connect((sys.argv[1], 80))
    print("answer: " + s.recv(200).decode().strip())
except OSError as e:
    print(f"refused: no connection ({e.__class__.__name__}: {e})")
PY

ask() { "$difw" lab exec "$1" -- python3 "$work/ask.py" "$SERVER_IP"; }

step "1. build the lab: 2 nodes on a fabric bridge, pod pub/bar on node-2, pub/alice and pub/bob on node-1"
"$difw" lab up -f "$work/lab.yaml"
"$difw" lab status | sed 's/^/   /'
"$difw" lab exec pub/bar -- python3 "$work/bar.py" > "$work/bar.out" &
server_pid=$!
for _ in $(seq 50); do grep -q ready "$work/bar.out" 2>/dev/null && break; sleep 0.1; done

step "2. no policy yet: everyone gets a beer"
say "alice ($ALICE_IP) -> $(ask pub/alice)"
say "bob   ($BOB_IP) -> $(ask pub/bob)"

step "3. apply a NetworkPolicy: the bar serves pods labelled role=regular only"
"$difw" apply -f "$work/policy.yaml" | sed 's/^/   /'
say "alice (role=regular)  -> $(ask pub/alice)"
say "bob   (role=stranger) -> $(ask pub/bob)"

step "4. an attacker joins the fabric and takes alice's address"
st=$("$difw" lab status --json)
fabns=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["fabric"]["netns"])' <<<"$st")
bridge=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["fabric"]["bridge"])' <<<"$st")
n1ip=$(python3 -c 'import json,sys; print([n["fabricIp"] for n in json.load(sys.stdin)["nodes"] if n["name"]=="node-1"][0])' <<<"$st")
n2ip=$(python3 -c 'import json,sys; print([n["fabricIp"] for n in json.load(sys.stdin)["nodes"] if n["name"]=="node-2"][0])' <<<"$st")
n2ns=$(python3 -c 'import json,sys; print([n["netns"] for n in json.load(sys.stdin)["nodes"] if n["name"]=="node-2"][0])' <<<"$st")
atk_ip="${n1ip%.*}.66"
ip netns add dd-attacker
ip -n "$fabns" link add ddatk0 type veth peer name eth0 netns dd-attacker
ip -n "$fabns" link set ddatk0 master "$bridge" up
ip -n dd-attacker link set lo up
ip -n dd-attacker addr add "$atk_ip/24" dev eth0
ip -n dd-attacker addr add "$ALICE_IP/32" dev eth0
ip -n dd-attacker link set eth0 up
ip -n dd-attacker route add 198.19.0.0/16 via "$n2ip"
# the fabric now delivers alice's traffic to the attacker (as a poisoned route or ARP would)
ip -n "$n2ns" route replace "$ALICE_IP/32" via "$atk_ip" dev fab0
say "attacker $atk_ip on bridge $bridge now holds $ALICE_IP; node-2 routes $ALICE_IP to it"
say "attacker as $ALICE_IP -> $(ip netns exec dd-attacker python3 "$work/ask.py" "$SERVER_IP" "$ALICE_IP")"
ev=/run/difw/lab-dd/nodes/node-2/events.log
sleep 0.3
if [ -s "$ev" ]; then
  say "node-2 flow log, last drop:"
  tail -n 1 "$ev" | python3 -c 'import json,sys; e=json.loads(sys.stdin.read()); print("     %s %s:%s -> %s:%s %s, peer identity %s (%s), reason %s" % (e["verdict"], e["remote"], e["remotePort"], e["local"], e["localPort"], e["direction"], e["peerIdentity"], "verified claim" if e.get("verified") else "no valid claim: world", e["reason"]))' || true
fi

step "5. control: without the policy the same stolen address does get through (the network path works)"
"$difw" delete -f "$work/policy.yaml" | sed 's/^/   /'
say "attacker as $ALICE_IP -> $(ip netns exec dd-attacker python3 "$work/ask.py" "$SERVER_IP" "$ALICE_IP")"
"$difw" apply -f "$work/policy.yaml" | sed 's/^/   /'
say "policy back: attacker as $ALICE_IP -> $(ip netns exec dd-attacker python3 "$work/ask.py" "$SERVER_IP" "$ALICE_IP")"

step "6. tear down"
"$difw" lab down | sed 's/^/   /'
