import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UfwError, UfwSyntaxError, formatRuleCommand, parseUfwArgs, shellSplit, type RuleCommand } from '../../src/ufw/grammar.js';
import { normalizeAddress, validAddress } from '../../src/ufw/address.js';
import { normalizeRule } from '../../src/ufw/rules.js';
import { UfwSim } from '../helpers/ufw-memory.js';
import { loadCliConformance } from '../helpers/ufw-conformance.js';

const words = (line: string) => {
  const w = shellSplit(line);
  return w[0] === 'ufw' ? w.slice(1) : w;
};
const parse = (line: string) => parseUfwArgs(words(line));
const errorOf = (line: string): string => {
  try {
    parse(line);
  } catch (e) {
    if (e instanceof UfwError || e instanceof UfwSyntaxError) return e.message;
    throw e;
  }
  return '(parsed)';
};

test('command types resolve the way ufw resolves them', () => {
  assert.deepEqual(parse('status').command, { kind: 'status', mode: 'plain' });
  assert.deepEqual(parse('status numbered').command, { kind: 'status', mode: 'numbered' });
  assert.deepEqual(parse('verbose').command, { kind: 'status', mode: 'plain' }, "ufw treats a bare 'verbose' as status");
  assert.deepEqual(parse('default deny input').command, { kind: 'default', policy: 'deny', direction: 'incoming' });
  assert.deepEqual(parse('default allow FORWARD').command, { kind: 'default', policy: 'allow', direction: 'routed' });
  assert.deepEqual(parse('logging on').command, { kind: 'logging', level: 'on' });
  assert.deepEqual(parse('app default skip').command, { kind: 'app', action: 'default-skip', name: '' });
  assert.deepEqual(parse('delete 3').command, { kind: 'delete-number', number: '3' });
  const f = parse('--dry-run --force delete 2');
  assert.equal(f.dryRun, true);
  assert.equal(f.force, true);
  assert.equal(parse('--force reset').force, true);
  assert.equal(errorOf('--force allow 22'), 'Invalid syntax', "after --force, 'allow' resolves to the default command");
  assert.equal(errorOf(''), 'not enough args');
  assert.equal(errorOf('enable now'), 'Invalid syntax');
  assert.equal(errorOf('logging'), 'Invalid syntax');
  assert.equal(errorOf('route delete 1'), "'route delete NUM' unsupported. Use 'delete NUM' instead.");
  assert.equal(errorOf('route allow in 22'), 'Invalid interface clause for route rule');
  assert.equal(errorOf('insert 0 allow 24'), "Cannot insert rule at position '0'");
  assert.equal(errorOf('insert a allow 22'), "Insert position 'a' is not a valid position");
  assert.equal(errorOf('insert 1a allow 22'), 'Invalid syntax');
  assert.equal(errorOf('allow 22 comment "it\'s"'), 'Invalid syntax');
  assert.equal(errorOf('allow 22/tcp comment'), "Option 'comment' missing required argument");
  assert.equal(errorOf('allow log 22 log'), "Option 'log' not allowed here");
  assert.equal(errorOf('allow proto xyz from any'), "Unsupported protocol 'xyz'");
  assert.equal(errorOf('allow to 2001:db8::1 proto igmp'), "Invalid IPv6 address with protocol 'igmp'");
  assert.equal(errorOf('allow 22/xyz'), 'Bad port');
  assert.equal(errorOf('allow 22/tcp/udp'), 'Bad port');
  assert.equal(errorOf('allow to any port 65536'), "Bad port '65536'");
  assert.equal(errorOf('allow from any port 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16 proto tcp'), "Bad port '1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16'");
  assert.equal(errorOf('allow http/udp'), 'Protocol mismatch with specified protocol udp');
});

test('rule words become the rule ufw stores', () => {
  const r = parse('allow in on eth0 log from 10.0.0.1 port 22 to any port smtp proto tcp comment "a b"').command as RuleCommand;
  assert.equal(r.kind, 'rule');
  assert.equal(r.iptype, 'v4');
  assert.deepEqual(
    { ...r.rule },
    {
      action: 'allow', direction: 'in', forward: false, protocol: 'tcp', src: '10.0.0.1', dst: 'any', sport: '22', dport: '25',
      sapp: '', dapp: '', ifaceIn: 'eth0', ifaceOut: '', logtype: 'log', v6: false, comment: 'a b',
    },
  );
  const route = parse('route allow in on fake0 out on fake1 from 192.168.0.1 port 23,21,15:19,13 to 10.0.0.0/8 port 24:26 proto tcp').command as RuleCommand;
  assert.equal(route.rule.forward, true);
  assert.equal(route.rule.ifaceIn, 'fake0');
  assert.equal(route.rule.ifaceOut, 'fake1');
  assert.equal(route.rule.sport, '23,21,15:19,13', 'sorting happens when the rule is applied');
  const smtp = parse('allow smtp').command as RuleCommand;
  assert.equal(smtp.rule.dport, '25');
  assert.equal(smtp.rule.protocol, 'tcp');
  assert.equal(smtp.iptype, 'both');
  const app = parse('allow Samba').command as RuleCommand;
  assert.equal(app.rule.dapp, 'Samba');
  assert.equal((parse('allow proto igmp to any').command as RuleCommand).iptype, 'v4', 'igmp is IPv4 only');
  assert.equal((parse('prepend deny from 2001:db8::1').command as RuleCommand).position, -1);
  assert.equal((parse('insert 3 deny 22').command as RuleCommand).position, 3);
  assert.equal((parse('delete allow 22').command as RuleCommand).remove, true);
});

test('address validation and normalisation follow ufw', () => {
  assert.equal(validAddress('192.168.0.'), false);
  assert.equal(validAddress('01.2.3.4'), false);
  assert.equal(validAddress('10.0.0.1/255.255.16.255'), true);
  assert.equal(validAddress('192.168.0.0/255.256.255.255'), false);
  assert.equal(validAddress('2001:db8::/32'), true);
  assert.equal(validAddress('2001:db8::1/129'), false);
  assert.deepEqual(normalizeAddress('10.0.0.1/8', false), { addr: '10.0.0.0/8', changed: true });
  assert.deepEqual(normalizeAddress('192.168.0.1/32', false), { addr: '192.168.0.1', changed: false });
  assert.deepEqual(normalizeAddress('10.0.0.1/255.255.0.0', false), { addr: '10.0.0.0/16', changed: true });
  assert.deepEqual(normalizeAddress('10.0.0.1/255.255.16.255', false), { addr: '10.0.0.1/255.255.16.255', changed: false });
  assert.deepEqual(normalizeAddress('2001:db8:0:0::1/64', true), { addr: '2001:db8::1/64', changed: true });
  assert.deepEqual(normalizeAddress('1::2:3:4:5:6:7', true), { addr: '1:0:2:3:4:5:6:7', changed: true });
  assert.deepEqual(normalizeAddress('::ffff:1.2.3.4', true), { addr: '::ffff:1.2.3.4', changed: false });
  assert.deepEqual(normalizeAddress('::1/128', true), { addr: '::1', changed: false });
});

test('formatRuleCommand and parse round-trip', () => {
  const lines = [
    'allow 53', 'allow 25/tcp', 'deny out 53', 'allow log-all 22/tcp', "allow 22/tcp comment 'SSH port'",
    'allow from 10.0.0.0/8', 'allow in on eth0 from 10.0.0.0/8 to any port 22 proto tcp',
    'allow out on eth0 to 2001:db8::1 port 53 proto udp', 'deny from 1.2.3.5 port 5469 to 1.2.3.4 port 5469 proto udp',
    'allow to any proto igmp', 'reject in on eth0 to any port 80', 'allow from any app Samba to 10.0.0.1 app Apache',
    "allow 'Apache Full'", 'allow in on eth0 to any app Bind9', 'limit from 10.0.0.1 port 80 to 10.0.0.1 port 25 proto tcp',
  ];
  for (const l of lines) {
    const r1 = parse(l).command as RuleCommand;
    const text = formatRuleCommand(r1.rule);
    assert.equal(text, l, `ufw's command text for '${l}'`);
    const r2 = parse(text).command as RuleCommand;
    for (const r of [r1, r2]) {
      r.rule.v6 = r.iptype === 'v6';
      normalizeRule(r.rule);
    }
    assert.deepEqual(r2.rule, r1.rule, `round trip of '${l}'`);
  }
  const route = parse('route allow in on eth0 out on eth1').command as RuleCommand;
  assert.equal(formatRuleCommand(route.rule), 'allow in on eth0 out on eth1');
});

test('shellSplit keeps quoted words together', () => {
  assert.deepEqual(shellSplit(`allow 22 comment 'a b'`), ['allow', '22', 'comment', 'a b']);
  assert.deepEqual(shellSplit(`allow "WWW Full"  `), ['allow', 'WWW Full']);
  assert.deepEqual(shellSplit(`a\\ b c`), ['a b', 'c']);
});

const conformance = loadCliConformance();

test('public conformance: every accepted command parses and applies', (t) => {
  if (!conformance) return t.skip('shared/conformance/ufw-cli-public.json not found next to the repository');
  for (const c of conformance.accept) {
    const sim = new UfwSim();
    const r = sim.run(c.cmd);
    assert.equal(r.ok, true, `${c.cmd}: ${r.text}`);
  }
});

test('public conformance: rejected commands fail with ufw\'s message', (t) => {
  if (!conformance) return t.skip('shared/conformance/ufw-cli-public.json not found next to the repository');
  let checked = 0;
  for (const c of conformance.reject) {
    const pre = c.precondition ?? '';
    if (pre.includes('/etc/default/ufw') && !pre.includes('IPV6')) continue; // needs a broken ufw config file
    const sim = new UfwSim(undefined, pre.includes('IPV6=no') ? { ipv6: false } : {});
    if (pre.includes('2 v4 + 2 v6')) {
      for (const s of ['allow 22/tcp', 'allow 80/tcp']) assert.equal(sim.run(s).ok, true);
    }
    const r = sim.run(c.cmd);
    assert.equal(r.ok, false, `${c.cmd} must fail`);
    assert.equal(`ERROR: ${r.text}`, c.error, c.cmd);
    checked++;
  }
  assert.ok(checked > 60, `checked ${checked} rejected commands`);
});
