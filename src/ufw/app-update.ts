/**
 * `app update PROFILE|all`: re-expand the rules written for an application profile after the
 * profile's ports changed, in place (ufw's update_app_rule). Each group of rules one app rule
 * expanded into is replaced by the expansion of the current profile.
 */
import type { FirewallState, Rule } from './model.js';
import { M } from './messages.js';
import { expandAppRule, type ProfileSet } from './apps.js';
import { appTuple, normalizeRule } from './rules.js';

function updateOne(state: FirewallState, profiles: ProfileSet, profile: string): { output: string; changed: boolean } {
  const v4: Rule[] = [];
  const v6: Rule[] = [];
  let lastTuple = '';
  let changed = false;
  for (const r of [...state.rules, ...state.rules6]) {
    if (r.dapp !== profile && r.sapp !== profile) {
      (r.v6 ? v6 : v4).push(r);
      continue;
    }
    // the rules of one app rule are adjacent; replace the whole group once
    const t = appTuple(r);
    if (t === lastTuple) continue;
    const template: Rule = { ...r, protocol: 'any' };
    if (template.dapp !== '') template.dport = template.dapp;
    if (template.sapp !== '') template.sport = template.sapp;
    for (const n of expandAppRule(profiles, template)) {
      normalizeRule(n);
      (n.v6 ? v6 : v4).push(n);
    }
    lastTuple = t;
    changed = true;
  }
  if (!changed) return { output: '', changed };
  state.rules = v4;
  state.rules6 = v6;
  return { output: M.rulesUpdatedForProfile(profile), changed };
}

/** Returns ufw's text ("Rules updated for profile 'X'" lines, each followed by a newline) and whether rules changed. */
export function updateAppProfile(state: FirewallState, profiles: ProfileSet, name: string): { output: string; changed: boolean } {
  const names = name === 'all' ? [...profiles.profiles.keys()].sort() : [name];
  let output = '';
  let changed = false;
  for (const n of names) {
    const r = updateOne(state, profiles, n);
    if (name !== 'all' || r.changed) {
      if (r.output !== '') output += `${r.output}\n`;
    }
    changed ||= r.changed;
  }
  return { output, changed };
}
