#!/usr/bin/env node
// Runs the ../shared differential oracles against bin/difw and fails on any difference from
// real ufw that conformance/known-differences.json does not list (with its reason), or on a
// listed difference that no longer occurs.
//   node scripts/conformance.mjs [fwdiff|clidiff ...]
import { spawnSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';

const shared = process.env.SHARED ?? '../shared';
const known = JSON.parse(readFileSync('conformance/known-differences.json', 'utf8'));
const tools = {
  fwdiff: ['tools/fwdiff/fwdiff.py', 'conformance/ufw-public.json'],
  clidiff: ['tools/fwdiff/clidiff.py', 'conformance/ufw-cli-public.json'],
};
const which = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(tools);
let bad = 0;
for (const name of which) {
  const [tool, cases] = tools[name];
  if (!existsSync(`${shared}/${tool}`)) {
    console.error(`Cannot run ${name}: ${shared}/${tool} is missing`);
    bad++;
    continue;
  }
  // Real ufw uses the global /etc/ufw: serialize with anything else that runs it. `ufw reset`
  // keeps ufw.conf's LOGLEVEL, so a previous oracle run that ended on `ufw logging medium` would
  // make the next one compare difw's fresh state with a host that is not at ufw's defaults:
  // the oracle runs from the shipped default (low) and ufw.conf is put back afterwards.
  const conf = '/etc/ufw/ufw.conf';
  const oracle = [
    `cp -p ${conf} ${conf}.difw-oracle`,
    `sed -i 's/^LOGLEVEL=.*/LOGLEVEL=low/' ${conf}`,
    `python3 "$0" "$1" --sut bin/difw; rc=$?`,
    `mv -f ${conf}.difw-oracle ${conf}`,
    'exit $rc',
  ].join('\n');
  const r = spawnSync('flock', ['/tmp/difw-ufw-oracle.lock', 'bash', '-c', oracle, `${shared}/${tool}`, `${shared}/${cases}`], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 40 * 60_000,
  });
  process.stdout.write(r.stdout ?? '');
  const lines = (r.stdout ?? '').split('\n');
  const allowed = known[name] ?? {};
  const seen = new Set();
  let current;
  const unexpected = [];
  for (const ln of lines) {
    const m = /^FAIL (.+?): /.exec(ln);
    if (m) {
      current = m[1];
      if (!allowed[current]) unexpected.push(ln);
      else if (name === 'clidiff') seen.add(current);
      continue;
    }
    if (current && ln.startsWith('   ') && allowed[current]) {
      const probe = ln.trim();
      if (allowed[current].probes.includes(probe)) seen.add(`${current}|${probe}`);
      else unexpected.push(`${current}: ${probe}`);
    }
  }
  const stale = Object.entries(allowed).flatMap(([c, v]) => (v.probes ?? [c]).filter((p) => !seen.has(name === 'clidiff' ? c : `${c}|${p}`)).map((p) => `${c}: ${p}`));
  const summary = lines.filter((l) => /passed, \d+ failed|agreeing/.test(l)).join('; ');
  if (r.status !== 0 && unexpected.length === 0 && seen.size === 0) unexpected.push(`${name} exited ${r.status} without a result`);
  if (unexpected.length || stale.length) {
    bad++;
    console.log(`${name}: ${unexpected.length} unexpected difference(s), ${stale.length} stale known difference(s)`);
    for (const u of unexpected) console.log(`  unexpected: ${u}`);
    for (const s of stale) console.log(`  no longer differs (remove from known-differences.json): ${s}`);
  } else {
    console.log(`${name}: ${summary}; every difference is a documented one (${seen.size})`);
  }
}
process.exit(bad ? 1 : 0);
