import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderStatus, renderShowAdded } from '../../src/ufw/status.js';
import { UfwSim } from '../helpers/ufw-memory.js';
import { loadCliConformance } from '../helpers/ufw-conformance.js';

const trimmed = (s: string) => s.split('\n').map((l) => l.trimEnd());

// Recorded from ufw 0.36.2 (same commands, fresh namespace, IPv6 on, forwarding off).
const SETUP = [
  'enable',
  'limit 22/tcp',
  'allow 22',
  'allow in on eth0 from 10.0.0.1/8 to any app SSH',
  "allow 80/tcp comment 'hello world'",
  'route allow in on eth0 out on eth1',
  'deny out 53',
  'allow log-all from 2001:db8::1 port 22 proto tcp',
];

test('status: sections, app rows, interfaces, log and comments as ufw prints them', () => {
  const sim = new UfwSim();
  for (const c of SETUP) assert.equal(sim.run(c).ok, true, c);
  assert.deepEqual(trimmed(renderStatus(sim.state, 'plain', { forwarding: false })), [
    'Status: active',
    '',
    'To                         Action      From',
    '--                         ------      ----',
    '22/tcp                     LIMIT       Anywhere',
    '22                         ALLOW       Anywhere',
    'SSH on eth0                ALLOW       10.0.0.0/8',
    '80/tcp                     ALLOW       Anywhere                   # hello world',
    '22/tcp (v6)                LIMIT       Anywhere (v6)',
    '22 (v6)                    ALLOW       Anywhere (v6)',
    '80/tcp (v6)                ALLOW       Anywhere (v6)              # hello world',
    'Anywhere (v6)              ALLOW       2001:db8::1 22/tcp         (log-all)',
    '',
    '53                         DENY OUT    Anywhere',
    '53 (v6)                    DENY OUT    Anywhere (v6)',
    '',
    'Anywhere on eth1           ALLOW FWD   Anywhere on eth0',
    'Anywhere (v6) on eth1      ALLOW FWD   Anywhere (v6) on eth0',
    '',
  ]);
  assert.deepEqual(trimmed(renderStatus(sim.state, 'numbered', { forwarding: false })), [
    'Status: active',
    '',
    '     To                         Action      From',
    '     --                         ------      ----',
    '[ 1] 22/tcp                     LIMIT IN    Anywhere',
    '[ 2] 22                         ALLOW IN    Anywhere',
    '[ 3] SSH on eth0                ALLOW IN    10.0.0.0/8',
    '[ 4] 80/tcp                     ALLOW IN    Anywhere                   # hello world',
    '[ 5] Anywhere on eth1           ALLOW FWD   Anywhere on eth0',
    '[ 6] 53                         DENY OUT    Anywhere                   (out)',
    '[ 7] 22/tcp (v6)                LIMIT IN    Anywhere (v6)',
    '[ 8] 22 (v6)                    ALLOW IN    Anywhere (v6)',
    '[ 9] 80/tcp (v6)                ALLOW IN    Anywhere (v6)              # hello world',
    '[10] Anywhere (v6) on eth1      ALLOW FWD   Anywhere (v6) on eth0',
    '[11] 53 (v6)                    DENY OUT    Anywhere (v6)              (out)',
    '[12] Anywhere (v6)              ALLOW IN    2001:db8::1 22/tcp         (log-all)',
    '',
  ]);
  assert.deepEqual(trimmed(renderStatus(sim.state, 'verbose', { forwarding: false })).slice(0, 10), [
    'Status: active',
    'Logging: on (low)',
    'Default: deny (incoming), allow (outgoing), disabled (routed)',
    'New profiles: skip',
    '',
    'To                         Action      From',
    '--                         ------      ----',
    '22/tcp                     LIMIT IN    Anywhere',
    '22                         ALLOW IN    Anywhere',
    '22/tcp (SSH) on eth0       ALLOW IN    10.0.0.0/8',
  ]);
  assert.deepEqual(renderShowAdded(sim.state).split('\n'), [
    "Added user rules (see 'ufw status' for running firewall):",
    'ufw limit 22/tcp',
    'ufw allow 22',
    'ufw allow in on eth0 from 10.0.0.0/8 to any app SSH',
    "ufw allow 80/tcp comment 'hello world'",
    'ufw route allow in on eth0 out on eth1',
    'ufw deny out 53',
    'ufw allow log-all from 2001:db8::1 port 22 proto tcp',
  ]);
});

test('status: exact column padding, inactive, empty, verbose policies', () => {
  const sim = new UfwSim();
  assert.equal(renderStatus(sim.state, 'numbered', { forwarding: false }), 'Status: inactive');
  sim.run('enable');
  assert.equal(renderStatus(sim.state, 'plain', { forwarding: false }), 'Status: active');
  sim.run('allow 53');
  const lines = renderStatus(sim.state, 'numbered', { forwarding: false }).split('\n');
  assert.equal(lines[4], '[ 1] 53                         ALLOW IN    Anywhere                  ');
  sim.run('default allow routed');
  sim.run('logging off');
  sim.run('app default allow');
  const v = renderStatus(sim.state, 'verbose', { forwarding: false }).split('\n');
  assert.deepEqual(v.slice(0, 4), ['Status: active', 'Logging: off', 'Default: deny (incoming), allow (outgoing), disabled (routed)', 'New profiles: allow']);
  const vf = renderStatus(sim.state, 'verbose', { forwarding: true }).split('\n');
  assert.equal(vf[2], 'Default: deny (incoming), allow (outgoing), allow (routed)');
  assert.equal(renderShowAdded(new UfwSim().state), "Added user rules (see 'ufw status' for running firewall):\n(None)");
});

test('status: outgoing then routed without incoming rules has no blank line between them', () => {
  const sim = new UfwSim();
  sim.run('enable');
  sim.run('deny out to 10.0.0.1');
  sim.run('route allow in on eth0 to 10.0.0.2');
  assert.deepEqual(trimmed(renderStatus(sim.state, 'plain', { forwarding: false })), [
    'Status: active',
    '',
    'To                         Action      From',
    '--                         ------      ----',
    '10.0.0.1                   DENY OUT    Anywhere',
    '10.0.0.2                   ALLOW FWD   Anywhere on eth0',
    '',
  ]);
});

const conformance = loadCliConformance();

test('public conformance: numbered and verbose listings line for line', (t) => {
  if (!conformance) return t.skip('shared/conformance/ufw-cli-public.json not found next to the repository');
  let n = 0;
  for (const c of conformance.accept) {
    // derived listings keep the double quotes of the transcript's argv; a shell (and clidiff's
    // shlex) removes them before ufw sees the comment
    if (!c.numbered_lines || c.cmd.includes('"')) continue;
    const sim = new UfwSim();
    sim.run('enable');
    assert.equal(sim.run(c.cmd).ok, true, c.cmd);
    const body = (mode: 'numbered' | 'verbose') =>
      trimmed(renderStatus(sim.state, mode, { forwarding: false })).filter((l) => l !== '' && !/^ *(To|--) /.test(l) && !/^(Status|Logging|Default|New profiles):/.test(l));
    assert.deepEqual(body('numbered'), c.numbered_lines, `numbered: ${c.cmd}`);
    assert.deepEqual(body('verbose'), c.verbose_lines, `verbose: ${c.cmd}`);
    n++;
  }
  for (const s of conformance.sequences) {
    if (!s.numbered_after) continue;
    const sim = new UfwSim();
    sim.run('enable');
    for (const c of s.setup) assert.equal(sim.run(c).ok, true, c);
    const r = sim.run(s.cmd);
    assert.equal(r.ok, true, s.cmd);
    assert.deepEqual(r.text.split('\n'), s.output, `output of ${s.cmd}`);
    const body = trimmed(renderStatus(sim.state, 'numbered', { forwarding: false })).filter((l) => l.startsWith('['));
    assert.deepEqual(body, s.numbered_after, s.name);
    n++;
  }
  assert.ok(n > 30, `compared ${n} listings`);
});
