/**
 * End-to-end: a namespace that used difw and was deleted leaves no state behind once another
 * namespace saves its state for the first time (src/state/gc.ts).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { isRoot, REPO } from '../helpers/env.js';
import { RUN_ROOT, STATE_ROOT } from '../../src/state/paths.js';

const DIFW = join(REPO, 'bin', 'difw');
const tag = `gc${process.pid % 100000}`;

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

it('the state of a deleted namespace is removed when a new namespace first saves its own', { skip: isRoot() ? false : 'needs root (network namespaces)' }, (t) => {
  const [a, b] = [`${tag}a`, `${tag}b`];
  t.after(() => {
    for (const n of [a, b]) spawnSync('ip', ['netns', 'del', n]);
  });
  const inode = (n: string) => statSync(`/run/netns/${n}`).ino;
  run('ip', ['netns', 'add', a]);
  const ia = inode(a);
  run('ip', ['netns', 'exec', a, DIFW, 'allow', '22/tcp']);
  assert.ok(existsSync(join(STATE_ROOT, `ns-${ia}`, 'state.json')), 'the first namespace saved its state');
  run('ip', ['netns', 'del', a]);
  assert.ok(existsSync(join(STATE_ROOT, `ns-${ia}`)), 'still there: nothing swept yet');

  run('ip', ['netns', 'add', b]);
  const ib = inode(b);
  assert.notEqual(ib, ia, 'the kernel gave the new namespace another inode (else the test proves nothing)');
  run('ip', ['netns', 'exec', b, DIFW, 'allow', '22/tcp']);
  assert.equal(existsSync(join(STATE_ROOT, `ns-${ia}`)), false, 'the dead namespace\'s state dir is gone');
  assert.equal(existsSync(join(RUN_ROOT, `ns-${ia}`)), false, 'and its run dir');
  assert.ok(existsSync(join(STATE_ROOT, `ns-${ib}`, 'state.json')), 'the live namespace keeps its state');
  run('ip', ['netns', 'del', b]);
  // b is dead now; the next new namespace will sweep it. Do it here so the test leaves nothing.
  run('ip', ['netns', 'add', a]);
  run('ip', ['netns', 'exec', a, DIFW, 'allow', '22/tcp']);
  assert.equal(existsSync(join(STATE_ROOT, `ns-${ib}`)), false);
  const ia2 = inode(a);
  run('ip', ['netns', 'del', a]);
  t.after(() => {
    // the last namespace's dirs: nothing else will sweep them in this run
    spawnSync('rm', ['-rf', join(STATE_ROOT, `ns-${ia2}`), join(RUN_ROOT, `ns-${ia2}`)]);
  });
});
