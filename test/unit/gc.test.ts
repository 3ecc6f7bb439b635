import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { liveNetnsInodes, nsfsMountedNetns, sweepDeadNamespaces } from '../../src/state/gc.js';

test('nsfsMountedNetns finds network namespaces bind-mounted with nsfs, and nothing else', () => {
  const info = [
    '36 25 0:23 / /run/netns rw,nosuid,nodev shared:5 - tmpfs tmpfs rw',
    '612 36 0:4 net:[4026532175] /run/netns/a rw shared:220 - nsfs nsfs rw',
    '613 36 0:4 net:[4026532238] /run/netns/b rw - nsfs nsfs rw',
    '614 36 0:4 mnt:[4026532240] /run/m rw - nsfs nsfs rw',
    '615 36 0:4 net:[4026532999] /run/x rw - tmpfs tmpfs rw',
    '',
  ].join('\n');
  assert.deepEqual(nsfsMountedNetns(info), [4026532175, 4026532238]);
});

test('sweepDeadNamespaces removes the dirs of dead namespaces only, in every root', (t) => {
  const base = mkdtempSync(join(tmpdir(), 'difw-gc-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const roots = { stateRoot: join(base, 'state'), runRoot: join(base, 'run'), pinRoot: join(base, 'pins') };
  const ids = ['ns-100', 'ns-200', 'ns-300', 'ns-400', 'host', 'bpffs', 'ns-x'];
  for (const r of Object.values(roots)) for (const id of ids) mkdirSync(join(r, id), { recursive: true });
  writeFileSync(join(roots.stateRoot, 'ns-100', 'state.json'), '{}');
  // ns-300: its agent runs (a live process with the argument `agent`, as `difw agent` has)
  const agent = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)', 'agent'], { stdio: 'ignore' });
  t.after(() => agent.kill());
  writeFileSync(join(roots.runRoot, 'ns-300', 'agent.pid'), `${agent.pid}\n`);
  // ns-400: a stale pid file whose pid now belongs to a process that is no difw agent
  writeFileSync(join(roots.runRoot, 'ns-400', 'agent.pid'), `${process.pid}\n`);

  assert.deepEqual(sweepDeadNamespaces(undefined, roots), [], 'liveness unknown: nothing removed');
  assert.ok(existsSync(join(roots.stateRoot, 'ns-100')));

  const removed = sweepDeadNamespaces(new Set([200]), roots);
  assert.deepEqual(removed, ['ns-100', 'ns-400']);
  for (const r of Object.values(roots)) {
    assert.equal(existsSync(join(r, 'ns-100')), false, `${r}/ns-100 removed`);
    assert.equal(existsSync(join(r, 'ns-400')), false, `${r}/ns-400 removed`);
    for (const kept of ['ns-200', 'ns-300', 'host', 'bpffs', 'ns-x']) assert.ok(existsSync(join(r, kept)), `${r}/${kept} kept`);
  }
});

test('liveNetnsInodes sees this process\'s own namespace (or says it cannot see them all)', (t) => {
  const live = liveNetnsInodes();
  if (!live) {
    t.skip('not in the initial PID namespace: liveness is unknown here, and the sweep does nothing');
    return;
  }
  assert.ok(live.has(statSync('/proc/self/ns/net').ino));
});
