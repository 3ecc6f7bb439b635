import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UfwSim } from '../helpers/ufw-memory.js';
import { applyBatchText, BatchLineError } from '../../src/cli/batch.js';
import { defaultState } from '../../src/state/store.js';
import { humanSortPorts, matchRules } from '../../src/ufw/rules.js';
import { blankRule } from '../../src/ufw/grammar.js';

const rows = (sim: UfwSim) => sim.numbered().filter((l) => l.startsWith('[')).map((l) => l.trimEnd());

test('messages depend on whether the firewall is running', () => {
  const off = new UfwSim();
  assert.equal(off.run('allow 22').text, 'Rules updated\nRules updated (v6)');
  assert.equal(off.run('allow 22').text, 'Skipping adding existing rule\nSkipping adding existing rule (v6)');
  assert.equal(off.run('allow from 10.0.0.1').text, 'Rules updated');
  assert.equal(off.run('allow from 2001:db8::1').text, 'Rules updated (v6)');
  const on = new UfwSim();
  on.run('enable');
  assert.equal(on.run('allow 22').text, 'Rule added\nRule added (v6)');
  assert.equal(on.run('deny 22').text, 'Rule updated\nRule updated (v6)');
  assert.equal(on.run('delete deny 22').text, 'Rule deleted\nRule deleted (v6)');
  assert.equal(on.run('delete deny 22').text, 'Could not delete non-existent rule\nCould not delete non-existent rule (v6)');
  assert.deepEqual(on.run('insert 1 allow 23'), { ok: false, text: "Invalid position '1'", warnings: [] }, 'nothing to insert before');
});

test('insert positions map across the IPv4 and IPv6 lists like ufw', () => {
  const setup = ['allow 1', 'allow 2', 'allow from 2001:db8::1', 'allow from 10.0.0.1'];
  const mk = () => {
    const s = new UfwSim();
    s.run('enable');
    for (const c of setup) assert.equal(s.run(c).ok, true);
    return s;
  };
  // numbered: [1] 1 [2] 2 [3] 10.0.0.1 [4] 1 (v6) [5] 2 (v6) [6] 2001:db8::1
  let s = mk();
  assert.equal(s.run('insert 2 allow 9').text, 'Rule inserted\nRule inserted (v6)');
  assert.deepEqual(rows(s).map((l) => l.slice(5, 31).trim()), ['1', '9', '2', 'Anywhere', '1 (v6)', '9 (v6)', '2 (v6)', 'Anywhere (v6)']);
  s = mk();
  assert.equal(s.run('insert 5 allow 9').text, 'Rule inserted\nRule inserted (v6)');
  assert.deepEqual(rows(s).map((l) => l.slice(5, 31).trim()), ['1', '9', '2', 'Anywhere', '1 (v6)', '9 (v6)', '2 (v6)', 'Anywhere (v6)'], 'a v6 position finds the matching v4 rule');
  s = mk();
  assert.deepEqual(s.run('insert 1 allow from 2001:db8::5'), { ok: false, text: "Invalid position '1'", warnings: [] });
  assert.equal(s.run('insert 5 allow from 2001:db8::5').text, 'Rule inserted (v6)');
  assert.equal(s.run('insert 4 allow from 10.0.0.9').ok, false, 'v4 rule at a v6 position');
  assert.deepEqual(s.run('insert 9 allow 9'), { ok: false, text: "Invalid position '9'", warnings: [] });
  s = mk();
  assert.equal(s.run('insert 1 allow 2').text, 'Skipping inserting existing rule\nSkipping inserting existing rule (v6)');
  s = mk();
  assert.equal(s.run('prepend deny from 10.0.0.5').text, 'Rule inserted');
  assert.match(rows(s)[0]!, /^\[ 1\] Anywhere +DENY IN +10\.0\.0\.5$/);
  s = new UfwSim();
  assert.equal(s.run('prepend allow 5').text, 'Rules updated\nRules updated (v6)');
});

test('comments, log types and delete matching', () => {
  const s = new UfwSim();
  s.run('enable');
  s.run("allow 22 comment 'a b'");
  assert.equal(s.run("allow 22 comment 'c'").text, 'Rule updated\nRule updated (v6)');
  assert.equal(s.run('delete allow 22').text, 'Rule deleted\nRule deleted (v6)', 'a delete without comment matches a commented rule');
  s.run('allow 22');
  assert.equal(s.run('delete allow 22/tcp').text, 'Could not delete non-existent rule\nCould not delete non-existent rule (v6)');
  assert.equal(s.run('allow log 22').text, 'Rule updated\nRule updated (v6)');
  assert.equal(s.run('delete 1').text, 'Rule deleted');
  assert.equal(rows(s).length, 1);
  const x = { ...blankRule(), dport: '22' };
  assert.equal(matchRules(x, { ...x }), 0);
  assert.equal(matchRules(x, { ...x, comment: 'z' }), -2);
  assert.equal(matchRules(x, { ...x, action: 'deny' }), -1);
  assert.equal(matchRules(x, { ...x, dport: '23' }), 1);
  assert.equal(humanSortPorts('23,21,15:19,13'), '13,15:19,21,23');
});

test('application rules expand per profile entry and collapse in listings', () => {
  const s = new UfwSim();
  s.run('enable');
  assert.equal(s.run('allow samba').text, 'Rule added\nRule added (v6)', 'profile names match case-insensitively');
  assert.equal(s.state.rules.length, 2);
  assert.deepEqual(s.state.rules.map((r) => `${r.dport}/${r.protocol}`), ['137,138/udp', '139,445/tcp']);
  s.run('allow 22');
  assert.deepEqual(rows(s).map((l) => l.slice(5, 30).trim()), ['Samba', '22', 'Samba (v6)', '22 (v6)']);
  assert.equal(s.run('insert 2 allow Apache').text, 'Rule inserted\nRule inserted (v6)');
  assert.deepEqual(rows(s).map((l) => l.slice(5, 30).trim()), ['Samba', 'Apache', '22', 'Samba (v6)', 'Apache (v6)', '22 (v6)']);
  assert.equal(s.run('delete allow Samba').text, 'Rule deleted\nRule deleted (v6)');
  assert.equal(s.run('delete allow Samba').text, 'Could not delete non-existent rule\nCould not delete non-existent rule (v6)');
  s.run('prepend allow Samba');
  assert.equal(s.state.rules.length, 4);
  assert.equal(s.run('delete 1').text, 'Rule deleted', 'deleting an app rule by number removes its whole expansion');
  assert.equal(s.state.rules.length, 2);
  // like ufw, deleting an app rule for both families goes through the IPv4 copies
  assert.equal(s.run('delete allow Samba').text, 'Could not delete non-existent rule\nCould not delete non-existent rule (v6)');
  assert.deepEqual(s.run('allow Nope'), { ok: false, text: "Could not find a profile matching 'Nope'", warnings: [] });
  assert.deepEqual(s.run('allow to any app Apache proto tcp'), { ok: false, text: 'Improper rule syntax', warnings: [] });
});

test('a failing command leaves the state unchanged', () => {
  const s = new UfwSim();
  s.run('allow 22');
  const before = JSON.stringify(s.state);
  assert.equal(s.run('allow 34,35').text, "Must specify 'tcp' or 'udp' with multiple ports");
  assert.equal(JSON.stringify(s.state), before);
});

test('batch: all lines or nothing, with the line number of the first bad one', () => {
  const state = defaultState();
  const r = applyBatchText('# comment\n\nallow 22/tcp\nallow from 10.0.0.0/8 to any port 80 proto tcp\n', state);
  assert.equal(r.lines, 2);
  assert.equal(state.rules.length, 2);
  assert.equal(state.rules6.length, 1);
  const st2 = defaultState();
  assert.throws(
    () => applyBatchText('allow 22\nallow to 192.168.0.\n', st2),
    (e: unknown) => e instanceof BatchLineError && e.line === 2 && e.message === 'Bad destination address',
  );
  assert.throws(() => applyBatchText('status\n', defaultState()), BatchLineError);
});

test('batch: 10,000 rules in one batch, duplicates skipped', (t) => {
  const lines: string[] = [];
  for (let i = 0; i < 10_000; i++) lines.push(`allow from 198.18.${(i >> 8) & 255}.${i & 255} to any port ${1 + (i % 60000)} proto tcp`);
  lines.push('allow 22/tcp');
  lines.push('allow 22/tcp');
  const state = defaultState();
  const t0 = Date.now();
  const r = applyBatchText(lines.join('\n'), state);
  const ms = Date.now() - t0;
  assert.equal(r.lines, 10_002);
  assert.equal(state.rules.length, 10_001, 'the duplicate line is skipped');
  assert.equal(state.rules6.length, 1);
  t.diagnostic(`batch of 10,002 lines parsed in ${ms} ms`);
});
