/**
 * Every public NetworkPolicy conformance case, cell by cell (TCP, UDP and SCTP, every ordered
 * pair of distinct pods), through (1) the reference evaluator and (2) the compiled node tables
 * looked up the way the datapath does: egress at the source's node with the destination's
 * verified claim (TCP) or address-derived identity (UDP/SCTP), ingress at the destination's
 * node likewise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCases, replay, expected, nodeFor, CASES_PATH, type Store, type Probe } from '../helpers/netpol-cases.js';
import { evaluateIn } from '../../src/policy/netpol/evaluate.js';
import { buildCluster } from '../../src/policy/netpol/cluster.js';
import { compileNode, TableIndex, directionVerdict, protoNumber } from '../../src/policy/netpol/compile.js';
import { parseObject } from '../../src/policy/netpol/model.js';

const file = loadCases();

function cells(store: Store, probe: Probe) {
  const objs = store.objects();
  const c = buildCluster(objs);
  const tables = new Map(['node-1', 'node-2'].map((n) => [n, new TableIndex(compileNode(objs, n))]));
  const out: { s: string; d: string; want: boolean; ref: boolean; compiled: boolean }[] = [];
  const pods = store.pods();
  for (const s of pods)
    for (const d of pods) {
      if (s === d) continue; // never crosses the network; upstream ignores it
      const want = expected(probe.expect, s, d);
      const ref = evaluateIn(c, { pod: s }, { pod: d }, probe.protocol, probe.port).allowed;
      const sp = c.podsByKey.get(s)!;
      const dp = c.podsByKey.get(d)!;
      const proto = protoNumber(probe.protocol);
      const eg = directionVerdict(tables.get(nodeFor(sp.ips[0]!))!, s, 'egress', dp.ips[0]!, proto, probe.port, dp.identity);
      const ing = directionVerdict(tables.get(nodeFor(dp.ips[0]!))!, d, 'ingress', sp.ips[0]!, proto, probe.port, sp.identity);
      out.push({ s, d, want, ref, compiled: !eg.drop && !ing.drop });
    }
  return out;
}

test('k8s-netpol-public cases: reference evaluator and compiled tables agree with the truth tables', (t) => {
  if (!file) return t.skip(`no conformance file at ${CASES_PATH}`);
  let n = 0;
  const bad: string[] = [];
  for (const c of file.cases) {
    replay(file, c, (store, probe) => {
      for (const x of cells(store, probe)) {
        n++;
        if (x.ref !== x.want) bad.push(`[ref] ${c.name}: ${x.s} -> ${x.d} ${probe.protocol}/${probe.port} want ${x.want}`);
        if (x.compiled !== x.want) bad.push(`[compiled] ${c.name}: ${x.s} -> ${x.d} ${probe.protocol}/${probe.port} want ${x.want}`);
      }
    });
  }
  t.diagnostic(`${n} cells over ${file.cases.length} cases`);
  assert.ok(n > 10000, `only ${n} cells`);
  assert.deepEqual(bad.slice(0, 20), []);
});

test('k8s-netpol-public validation cases: schema accepts and rejects as the API server does', (t) => {
  if (!file) return t.skip(`no conformance file at ${CASES_PATH}`);
  for (const v of file.validationCases) {
    let ok = true;
    try {
      parseObject(v.policy);
    } catch {
      ok = false;
    }
    assert.equal(ok, v.valid, v.name);
  }
});
