/**
 * Test helper, run inside a network namespace (`ip netns exec NS node claim-observer.js ...`):
 * loads the claim verifier test program (test/fixtures/bpf/claim_verify_test.bpf.c) on the pin
 * root of a node's claim datapath (so it shares that node's keys, hosted map and replay cache),
 * pins its result map at OUT_PIN and attaches claim_observe_tc to IFNAME's TC ingress. The
 * filter outlives this process (netlink TC); it goes away with the interface.
 *
 *   node claim-observer.js OBJ PIN_ROOT IFNAME OUT_PIN
 */
import { BpfObject } from '../../src/bpf/index.js';
import { readFileSync } from 'node:fs';

const [obj, pinRoot, ifname, outPin] = process.argv.slice(2);
if (!obj || !pinRoot || !ifname || !outPin) {
  process.stderr.write('usage: claim-observer.js OBJ PIN_ROOT IFNAME OUT_PIN\n');
  process.exit(2);
}
const ifindex = Number(readFileSync(`/sys/class/net/${ifname}/ifindex`, 'utf8').trim());
const o = BpfObject.open(obj, { pinRoot });
o.load();
o.map('claim_test_out').pin(outPin);
o.program('claim_observe_tc').attachTc(ifindex, 'ingress');
process.stdout.write(`attached ${ifname} ${ifindex}\n`);
o.close();
