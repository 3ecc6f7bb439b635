import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultState, loadState, mutateState, saveState } from '../../src/state/store.js';
import type { NetnsPaths } from '../../src/state/paths.js';
import { isDifwError } from '../../src/errors.js';
import { UfwSim } from '../helpers/ufw-memory.js';

function tempPaths(): NetnsPaths {
  const dir = mkdtempSync(join(tmpdir(), 'difw-store-'));
  return {
    id: 'test', inode: 0, stateDir: dir, runDir: dir, pinDir: dir, stateFile: join(dir, 'state.json'), lockFile: join(dir, 'lock'),
    socket: join(dir, 'sock'), pidFile: join(dir, 'pid'), eventLog: join(dir, 'events'), agentLog: join(dir, 'agent.log'),
  };
}

test('missing state means ufw defaults', (t) => {
  const p = tempPaths();
  t.after(() => rmSync(p.stateDir, { recursive: true, force: true }));
  assert.deepEqual(loadState(p), defaultState());
});

test('save and load round-trip, atomically', (t) => {
  const p = tempPaths();
  t.after(() => rmSync(p.stateDir, { recursive: true, force: true }));
  const sim = new UfwSim();
  for (const c of ['allow 22/tcp', "allow from 2001:db8::/32 to any app Samba", 'route deny in on eth0 out on eth1', 'app default allow', 'logging high']) {
    assert.equal(sim.run(c).ok, true, c);
  }
  saveState(p, sim.state);
  assert.deepEqual(loadState(p), sim.state);
  assert.deepEqual(readdirSync(p.stateDir).sort(), ['netns-cookie', 'state.json'], 'no temp files left behind');
});

test('a corrupt or invalid state file is refused with DIFW_E_STATE', (t) => {
  const p = tempPaths();
  t.after(() => rmSync(p.stateDir, { recursive: true, force: true }));
  writeFileSync(p.stateFile, '{not json');
  assert.throws(() => loadState(p), (e: unknown) => isDifwError(e, 'DIFW_E_STATE'));
  const bad = { ...defaultState(), rules: [{ action: 'allow' }] };
  writeFileSync(p.stateFile, JSON.stringify(bad));
  assert.throws(() => loadState(p), (e: unknown) => isDifwError(e, 'DIFW_E_STATE') && /rules\.0/.test((e as Error).message));
  const sim = new UfwSim();
  sim.run('allow from 2001:db8::1');
  const swapped = { ...sim.state, rules: sim.state.rules6, rules6: [] };
  assert.throws(() => saveState(p, swapped), (e: unknown) => isDifwError(e, 'DIFW_E_STATE'), 'a v6 rule in the v4 list is never written');
  assert.match(readFileSync(p.stateFile, 'utf8'), /"action":"allow"/, 'the old file is untouched');
});

test('concurrent read-modify-write cycles serialize under the lock', async (t) => {
  const p = tempPaths();
  t.after(() => rmSync(p.stateDir, { recursive: true, force: true }));
  const N = 20;
  await Promise.all(
    Array.from({ length: N }, (_, i) =>
      mutateState(p, async (state) => {
        const sim = new UfwSim(undefined, state);
        await new Promise((r) => setTimeout(r, Math.random() * 5));
        assert.equal(sim.run(`allow ${1000 + i}/tcp`).ok, true);
        return { save: sim.state, result: null };
      }),
    ),
  );
  const s = loadState(p);
  assert.equal(s.rules.length, N, 'no update lost');
  assert.equal(s.rules6.length, N);
});

test('a state dir left by a deleted namespace whose inode number was reused is not inherited', (t) => {
  const p = tempPaths();
  t.after(() => rmSync(p.stateDir, { recursive: true, force: true }));
  const sim = new UfwSim();
  assert.equal(sim.run('allow 22/tcp').ok, true);
  saveState(p, sim.state);
  assert.deepEqual(loadState(p), sim.state, 'same namespace: its own state');
  writeFileSync(join(p.stateDir, 'netns-cookie'), '999999999\n'); // another namespace wrote it
  assert.deepEqual(loadState(p), defaultState());
  assert.deepEqual(loadState({ ...p, id: 'host' }), sim.state, 'the host state is kept across reboots (no cookie check)');
});
