/** The ufw rule compiler: shapes (tuples), keys, first-match values, actions, capacity. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileFirewall, portBlocks, parsePorts, parsePrefix } from '../../src/policy/ufw-compile.js';
import { DEFAULT_STATE, type FirewallState, type Rule } from '../../src/ufw/model.js';
import { isDifwError } from '../../src/errors.js';
import { FW_ACT_ALLOW, FW_ACT_DENY, FW_ACT_LIMIT, FW_ACT_REJECT, FW_RJ_ICMP, FW_RJ_TCP_RST, FW_MAX_TUPLES, FW_POL_DENY, FW_POL_NONE, FW_POL_REJECT, FW_LOG_MEDIUM, FW_RLOG_ALL, FW_RLOG_NEW } from '../../src/datapath/layouts.js';

export function rule(p: Partial<Rule>): Rule {
  return { action: 'allow', direction: 'in', forward: false, protocol: 'any', src: 'any', dst: 'any', sport: 'any', dport: 'any', sapp: '', dapp: '', ifaceIn: '', ifaceOut: '', logtype: '', v6: false, comment: '', ...p };
}

function state(rules: Partial<Rule>[], rules6: Partial<Rule>[] = [], over: Partial<FirewallState> = {}): FirewallState {
  return { ...DEFAULT_STATE, enabled: true, rules: rules.map(rule), rules6: rules6.map((r) => rule({ ...r, v6: true })), ...over };
}

const noIf = { ifindex: () => undefined };

test('port ranges become aligned power-of-two blocks covering exactly the range', () => {
  const check = (lo: number, hi: number) => {
    const b = portBlocks(lo, hi);
    let next = lo;
    for (const { value, plen } of b) {
      const size = 1 << (16 - plen);
      assert.equal(value, next, `contiguous at ${value}`);
      assert.equal(value % size, 0, `aligned ${value}/${plen}`);
      next = value + size;
    }
    assert.equal(next, hi + 1);
    assert.ok(b.length <= 30, `${lo}:${hi} -> ${b.length} blocks`);
  };
  for (const [lo, hi] of [[1, 65535], [1000, 2000], [5000, 5010], [22, 22], [1, 1], [32768, 65535], [2, 65534]] as const) check(lo, hi);
  let x = 12345;
  for (let i = 0; i < 200; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const a = 1 + (x % 65535);
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const b = 1 + (x % 65535);
    check(Math.min(a, b), Math.max(a, b));
  }
  assert.deepEqual(parsePorts('22'), [{ value: 22, plen: 16 }]);
  assert.deepEqual(parsePorts('any'), [{ value: 0, plen: 0 }]);
  assert.equal(parsePorts('22,80,443').length, 3);
});

test('prefixes are masked to their length', () => {
  const p = parsePrefix('198.18.0.7/29', 4);
  assert.equal(p.plen, 29);
  assert.deepEqual([...p.bytes.subarray(0, 4)], [198, 18, 0, 0]);
  assert.equal(parsePrefix('198.18.0.5', 4).plen, 32);
  assert.equal(parsePrefix('2001:db8::1', 6).plen, 128);
  assert.equal(parsePrefix('2001:db8:ffff::/32', 6).bytes.toString('hex'), '20010db8000000000000000000000000');
  assert.throws(() => parsePrefix('2001:db8::1', 4), (e) => isDifwError(e, 'DIFW_E_POLICY'));
});

test('allow 22/tcp: one tuple per family, one key each, tcp reset for reject', () => {
  const c = compileFirewall(state([{ dport: '22', protocol: 'tcp' }], [{ dport: '22', protocol: 'tcp' }]), noIf);
  assert.deepEqual(c.summary.tuplesPerList, [1, 1, 0, 0, 0, 0]);
  assert.equal(c.keys.length, 2);
  const k4 = c.keys.find((k) => k.key.list === 0)!;
  assert.equal(k4.key.proto, 6);
  assert.equal(k4.key.dport, 22);
  assert.equal(k4.key.sport, 0);
  assert.equal(k4.rule, 0);
  const k6 = c.keys.find((k) => k.key.list === 1)!;
  assert.equal(k6.rule, 1);
  const t = c.tuples.find((x) => x.list === 0)!;
  assert.equal(t.value.dport_mask, 0xffff);
  assert.equal(t.value.sport_mask, 0);
  assert.equal(t.value.match_proto, 1);
  assert.equal(t.value.src_mask.toString('hex'), '0'.repeat(32));
  assert.equal(c.actions[0]!.action, FW_ACT_ALLOW);
  assert.equal(c.config.def_in, FW_POL_DENY);
  assert.equal(c.config.def_routed, FW_POL_NONE);
});

test('a protocol-less rule with a port means tcp and udp; reject kinds follow ufw', () => {
  const c = compileFirewall(
    state([
      { action: 'reject', dport: '53' },
      { action: 'reject', dport: '8082', protocol: 'udp' },
      { action: 'reject', src: '198.18.0.9' },
      { action: 'reject', dport: '80', protocol: 'tcp' },
    ]),
    noIf,
  );
  const r0 = c.keys.filter((k) => k.rule === 0).map((k) => k.key.proto).sort((a, b) => a - b);
  assert.deepEqual(r0, [6, 17]);
  assert.equal(c.actions[0]!.reject, FW_RJ_TCP_RST);
  assert.equal(c.actions[1]!.reject, FW_RJ_ICMP);
  assert.equal(c.actions[2]!.reject, FW_RJ_ICMP);
  assert.equal(c.actions[3]!.reject, FW_RJ_TCP_RST);
  assert.ok(c.actions.every((a) => a.action === FW_ACT_REJECT));
  const r2 = c.keys.filter((k) => k.rule === 2);
  assert.equal(r2.length, 1);
  assert.equal(r2[0]!.key.proto, 0, 'no protocol match without ports');
});

test('identical keys keep the first rule (first match wins)', () => {
  const c = compileFirewall(state([{ action: 'deny', src: '198.18.0.5' }, { action: 'allow', src: '198.18.0.5' }, { action: 'allow', dport: '22', protocol: 'tcp' }]), noIf);
  const same = c.keys.filter((k) => k.key.src[0] === 198);
  assert.equal(same.length, 1);
  assert.equal(same[0]!.rule, 0);
  assert.equal(c.actions[0]!.action, FW_ACT_DENY);
  assert.equal(c.summary.tuplesPerList[0], 2);
  // tuples sorted by their lowest rule
  const mins = c.tuples.filter((t) => t.list === 0).map((t) => t.value.min_rule);
  assert.deepEqual(mins, [...mins].sort((a, b) => a - b));
});

test('port lists and ranges expand into blocks under the right tuples', () => {
  const c = compileFirewall(state([{ dport: '5000:5010', protocol: 'udp' }, { protocol: 'tcp', dport: '22,80,443' }]), noIf);
  const r0 = c.keys.filter((k) => k.rule === 0);
  assert.deepEqual(r0.map((k) => k.key.dport).sort((a, b) => a - b), [5000, 5008, 5010]);
  const r1 = c.keys.filter((k) => k.rule === 1).map((k) => k.key.dport).sort((a, b) => a - b);
  assert.deepEqual(r1, [22, 80, 443]);
  // 5000/13 (8 ports), 5008/15 (2), 5010/16 (1) -> three shapes; the tcp list shares the /16 shape? no: different proto value, same shape
  assert.equal(c.summary.tuplesPerList[0], 3);
});

test('interface rules resolve to ifindex; unknown interfaces compile to no keys', () => {
  const s = state([{ ifaceIn: 'td0', dport: '80', protocol: 'tcp' }, { ifaceIn: 'nosuch', dport: '81', protocol: 'tcp' }]);
  const c = compileFirewall(s, { ifindex: (n) => (n === 'td0' ? 7 : undefined) });
  assert.equal(c.keys.filter((k) => k.rule === 0)[0]!.key.iif, 7);
  assert.equal(c.keys.filter((k) => k.rule === 1).length, 0);
  assert.deepEqual(c.summary.unresolvedInterfaces, ['nosuch']);
  assert.equal(c.actions.length, 2, 'the rule keeps its index so numbering stays ufw-like');
  assert.equal(c.tuples[0]!.value.match_iif, 1);
});

test('outgoing and route rules go to their own lists; policies and logging map', () => {
  const c = compileFirewall(
    state([{ direction: 'out', dst: '198.18.0.3', action: 'deny' }, { forward: true, ifaceIn: 'a', ifaceOut: 'b', action: 'allow' }, { action: 'limit', dport: '2222', protocol: 'tcp', logtype: 'log' }, { logtype: 'log-all', dport: '1', protocol: 'udp' }], [], {
      defaults: { incoming: 'reject', outgoing: 'allow', routed: 'deny' },
      logging: 'medium',
    }),
    { ifindex: (n) => ({ a: 2, b: 3 })[n] },
  );
  assert.deepEqual(c.summary.tuplesPerList, [1, 0, 1, 0, 1, 0], "limit 2222/tcp and 1/udp share one shape");
  const fwd = c.keys.find((k) => k.key.list === 4)!;
  assert.equal(fwd.key.iif, 2);
  assert.equal(fwd.key.oif, 3);
  assert.equal(c.config.def_in, FW_POL_REJECT);
  assert.equal(c.config.log_level, FW_LOG_MEDIUM);
  assert.equal(c.actions[2]!.action, FW_ACT_LIMIT);
  assert.equal(c.actions[2]!.log, FW_RLOG_NEW);
  assert.equal(c.actions[3]!.log, FW_RLOG_ALL);
  assert.equal(c.actions[3]!.number, 4);
});

test('capacity: more shapes than the datapath walks is a DIFW_E_CAPACITY error', () => {
  const shapes = (n: number) => {
    const rs: Partial<Rule>[] = [];
    for (let i = 0; i <= 32 && rs.length < n; i++) rs.push({ src: `198.18.0.0/${i}` });
    for (let j = 1; j <= 32 && rs.length < n; j++) rs.push({ dst: `198.18.0.0/${j}` });
    return rs;
  };
  const ok = compileFirewall(state(shapes(FW_MAX_TUPLES)), noIf);
  assert.equal(ok.summary.tuplesPerList[0], FW_MAX_TUPLES);
  assert.throws(
    () => compileFirewall(state(shapes(FW_MAX_TUPLES + 1)), noIf),
    (e) => isDifwError(e, 'DIFW_E_CAPACITY') && /^Cannot /.test((e as Error).message) && /65 distinct shapes/.test((e as Error).message),
  );
});

test('10,000 rules of one shape compile into one tuple', (t) => {
  const rs: Partial<Rule>[] = [];
  for (let i = 0; i < 10000; i++) rs.push({ src: `198.18.${(i >> 8) & 255}.${i & 255}`, dport: String(1000 + (i % 5000)), protocol: 'tcp' });
  const t0 = Date.now();
  const c = compileFirewall(state(rs), noIf);
  const ms = Date.now() - t0;
  assert.equal(c.summary.tuplesPerList[0], 1);
  assert.equal(c.keys.length, 10000);
  t.diagnostic(`compiled in ${ms} ms`);
});
