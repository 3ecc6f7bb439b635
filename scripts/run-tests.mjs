#!/usr/bin/env node
// Runs the node:test suites in dist/test/<layer>/ (layers: unit, bpf, e2e; default all).
// Node 20 has no --test glob support, so the file list is built here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const layers = process.argv.slice(2).length ? process.argv.slice(2) : ['unit', 'bpf', 'e2e'];
const files = [];
const walk = (d) => {
  let ents = [];
  try { ents = readdirSync(d); } catch { return; }
  for (const e of ents.sort()) {
    const p = join(d, e);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.test.js')) files.push(p);
  }
};
for (const l of layers) walk(join('dist', 'test', l));
if (!files.length) { console.error('Cannot find any compiled tests; run make build first'); process.exit(1); }
const r = spawnSync(process.execPath, ['--enable-source-maps', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
