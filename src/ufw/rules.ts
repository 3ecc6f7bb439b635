/**
 * Rule-list editing with ufw's semantics: where a new rule goes (append, `insert N`, `prepend`,
 * and how a position given against the combined numbered list maps onto the IPv4 and IPv6
 * lists), duplicate detection ("Skipping adding existing rule"), replacing a rule that differs
 * only in action/log/comment ("Rule updated"), deletion by rule and by number, application rules
 * (one rule per profile port entry, grouped back by their "app tuple"), and the exact message
 * each step prints.
 *
 * Rules are edited in place on a FirewallState; callers that must not keep a failed edit work on
 * a copy (the CLI never saves a state whose command failed).
 *
 * Appending is O(1) amortised: each list keeps a set of match keys, so the usual case (a new,
 * distinct rule) needs no scan. Inserts, deletes and near-duplicates take ufw's O(n) scan.
 */
import type { FirewallState, Rule } from './model.js';
import { isAnywhere, normalizeAddress } from './address.js';
import { M } from './messages.js';
import { UfwError, isMultiPort, validProfileName, type IpType, type RuleCommand } from './grammar.js';
import { expandAppRule, findApplicationName, type ProfileSet } from './apps.js';

const isAny = (a: string) => a === 'any' || isAnywhere(a);

/** ufw's human_sort key: digit runs compare as numbers, text case-insensitively. */
function humanKey(s: string): Array<string | number> {
  return s.split(/([0-9]+)/).map((c, i) => (i % 2 === 1 ? Number(c) : c.toLowerCase()));
}
function humanCompare(a: string, b: string): number {
  const ka = humanKey(a);
  const kb = humanKey(b);
  for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
    const x = ka[i]!;
    const y = kb[i]!;
    if (x < y) return -1;
    if (x > y) return 1;
  }
  return ka.length - kb.length;
}
export const humanSortPorts = (p: string) => p.split(',').sort(humanCompare).join(',');

/**
 * ufw's UFWRule.normalize(): canonical addresses for the rule's family and sorted port lists.
 * Returns true when an address was rewritten (ufw then warns "Rule changed after normalization").
 */
export function normalizeRule(r: Rule): boolean {
  let changed = false;
  for (const k of ['src', 'dst'] as const) {
    if (isAny(r[k])) {
      r[k] = 'any';
      continue;
    }
    try {
      const n = normalizeAddress(r[k], r.v6);
      r[k] = n.addr;
      changed ||= n.changed;
    } catch {
      throw new UfwError(k === 'src' ? M.couldNotNormalizeSrc : M.couldNotNormalizeDst);
    }
  }
  r.dport = humanSortPorts(r.dport);
  r.sport = humanSortPorts(r.sport);
  return changed;
}

/** Everything ufw's match() compares except action, log type and comment. */
export function matchKey(r: Rule): string {
  return [r.dport, r.sport, r.protocol, r.src, r.dst, r.v6 ? 6 : 4, r.dapp, r.sapp, r.ifaceIn, r.ifaceOut, r.direction, r.forward ? 'f' : ''].join('\u0000');
}

/** ufw's UFWRule.match(): 0 identical, 1 different, -1 differs in action/log type, -2 only in comment. */
export function matchRules(x: Rule, y: Rule): 0 | 1 | -1 | -2 {
  if (matchKey(x) !== matchKey(y)) return 1;
  if (x.action === y.action && x.logtype === y.logtype) return x.comment === y.comment ? 0 : -2;
  return -1;
}

export const isAppRule = (r: Rule) => r.dapp !== '' || r.sapp !== '';

/** ufw's get_app_tuple(): identifies the rules one app rule expanded into. '' for other rules. */
export function appTuple(r: Rule): string {
  if (!isAppRule(r)) return '';
  // ufw spells "anywhere" per family, so an app rule's IPv4 and IPv6 copies are distinct groups
  const any = r.v6 ? '::/0' : '0.0.0.0/0';
  const dst = isAny(r.dst) ? any : r.dst;
  const src = isAny(r.src) ? any : r.src;
  let t = `${r.dapp} ${dst} ${r.sapp} ${src}`;
  if (r.dapp === '') t = `${r.dport} ${dst} ${r.sapp} ${src}`;
  if (r.sapp === '') t = `${r.dapp} ${dst} ${r.sport} ${src}`;
  if (r.ifaceIn === '' && r.ifaceOut === '') t += ` ${r.direction}`;
  else {
    if (r.ifaceIn !== '') t += ` in_${r.ifaceIn}`;
    if (r.ifaceOut !== '') t += ` out_${r.ifaceOut}`;
  }
  return t;
}

/**
 * The rules as `status numbered` lists them: each list in order, an app rule's expansion shown
 * once (at its first rule). `index` is the position in the underlying list.
 */
export function visibleRules(list: Rule[]): Array<{ rule: Rule; index: number }> {
  const seen = new Set<string>();
  const out: Array<{ rule: Rule; index: number }> = [];
  list.forEach((rule, index) => {
    if (isAppRule(rule)) {
      const t = appTuple(rule);
      if (seen.has(t)) return;
      seen.add(t);
    }
    out.push({ rule, index });
  });
  return out;
}

/** One of the two rule lists, with the bookkeeping that keeps appends cheap. */
class RuleList {
  private keys: Set<string> | null = null;
  private countCache = -1;
  private appRules = -1;
  constructor(public items: Rule[]) {}

  has(key: string): boolean {
    if (!this.keys) this.keys = new Set(this.items.map(matchKey));
    return this.keys.has(key);
  }
  append(r: Rule): void {
    this.items.push(r);
    this.keys?.add(matchKey(r));
    if (isAppRule(r)) this.countCache = -1;
    else if (this.countCache >= 0) this.countCache++;
    if (this.appRules >= 0 && isAppRule(r)) this.appRules++;
  }
  replace(items: Rule[]): void {
    this.items = items;
    this.keys = null;
    this.countCache = -1;
    this.appRules = -1;
  }
  /** Rules as ufw counts them (an app rule's expansion counts once). */
  count(): number {
    if (this.countCache < 0) {
      if (this.appRules < 0) this.appRules = this.items.filter(isAppRule).length;
      this.countCache = this.appRules === 0 ? this.items.length : visibleRules(this.items).length;
    }
    return this.countCache;
  }
}

export interface EditorOptions {
  /** The firewall is running: messages say "Rule added" etc. instead of "Rules updated". */
  enabled: boolean;
  dryRun: boolean;
  /** IPV6=yes: rules without addresses go into both lists. */
  ipv6: boolean;
  /** The datapath supports rate limiting on IPv6 (ufw: ip6tables 'recent'); off in dry runs like ufw. */
  limit6: boolean;
  profiles: ProfileSet;
}

/** A rule on its way into a list: ufw's position (0 append, -1 prepend, N insert) and delete flag. */
interface Req {
  rule: Rule;
  position: number;
  remove: boolean;
  updated: boolean;
}

export interface EditResult {
  /** Lines ufw prints on stdout. */
  output: string;
  /** ufw's "WARN:" messages (without the prefix), for stderr. */
  warnings: string[];
  /** Whether either rule list changed (the state needs saving). */
  changed: boolean;
}

/** Edits the rule lists of a state the way ufw's frontend and iptables backend do. */
export class RuleEditor {
  private v4: RuleList;
  private v6: RuleList;
  private changed = false;

  constructor(
    private readonly state: FirewallState,
    private readonly opts: EditorOptions,
  ) {
    this.v4 = new RuleList(state.rules);
    this.v6 = new RuleList(state.rules6);
  }

  private list(v6: boolean): RuleList {
    return v6 ? this.v6 : this.v4;
  }

  private commit(v6: boolean): void {
    if (v6) this.state.rules6 = this.v6.items;
    else this.state.rules = this.v4.items;
    this.changed = true;
  }

  /** ufw's get_rule_by_number(): the Nth rule of `status numbered`. */
  ruleByNumber(n: number): Rule | null {
    const all = [...visibleRules(this.v4.items), ...visibleRules(this.v6.items)];
    return all[n - 1]?.rule ?? null;
  }

  /** Raw rule count (what ufw checks `delete NUM` against before looking the rule up). */
  rawCount(): number {
    return this.v4.items.length + this.v6.items.length;
  }

  /**
   * ufw's find_other_position(): the position in the other list of the rule matching the rule
   * at user position `position` of this list (0 when there is none).
   */
  private findOtherPosition(position: number, v6: boolean): number {
    const own = this.list(v6).items;
    const other = this.list(!v6).items;
    if (position > own.length || position < 1) throw new UfwError(M.invalidPosition(position));
    const seen = new Set<string>();
    let offset = 0;
    for (let i = 0; i < own.length && i < position; i++) {
      const r = own[i]!;
      if (!isAppRule(r)) continue;
      const t = appTuple(r);
      if (seen.has(t)) offset++;
      else seen.add(t);
    }
    const target = own[position - 1 + offset];
    if (!target) throw new UfwError(M.invalidPosition(position));
    const probe: Rule = { ...target, v6: !v6 };
    const idx = other.findIndex((r) => matchRules(r, probe) === 0);
    return idx + 1;
  }

  /** ufw's get_app_rules_from_system(): the stored rules of the app rule `template` names. */
  private appRulesFromSystem(template: Rule, v6: boolean): Rule[] {
    const norm: Rule = { ...template, v6 };
    normalizeRule(norm);
    const t = appTuple(norm);
    return this.list(v6)
      .items.filter((r) => appTuple(r) === t)
      .map((r) => ({ ...r }));
  }

  /** ufw's backend set_rule() for one list. Returns the message; throws UfwError. */
  private setRule(req: Req): string {
    const rule = req.rule;
    const v6 = rule.v6;
    const tag = v6 ? ' (v6)' : '';
    if (v6) {
      if (!this.opts.ipv6) throw new UfwError(M.addV6Failed);
      if (rule.action === 'limit' && !this.opts.limit6) return M.skipV6Limit;
    }
    if ((isMultiPort(rule.dport) || isMultiPort(rule.sport)) && rule.protocol !== 'udp' && rule.protocol !== 'tcp') {
      throw new UfwError(M.multiNeedsProto);
    }
    const list = this.list(v6);
    let position = req.position;
    if (position < 0 || position > list.items.length) throw new UfwError(M.invalidPosition(position));
    if (position > 0 && req.remove) throw new UfwError(M.insertAndDelete);
    if (normalizeRule(rule)) req.updated = true;

    let found = false;
    let modified = false;
    let inserted = false;
    const key = matchKey(rule);
    if (position === 0 && !list.has(key)) {
      // fast path: nothing in the list matches this rule, so it is a plain append (or a miss)
      if (req.remove) return this.opts.dryRun ? this.updatedMessage(v6, false, false, false, true) : M.deleteNonExistent + tag;
      list.append({ ...rule });
      this.commit(v6);
      return this.updatedMessage(v6, false, false, false, false);
    }

    const next: Rule[] = [];
    let matches = 0;
    let last = ['', '', '', ''];
    let count = 1;
    for (const r of list.items) {
      const current = [r.dst, r.src, r.dapp, r.sapp];
      if (count === position) {
        // insert here unless that would split an application rule's expansion
        const lastPlain = last[2] === '' && last[3] === '';
        const curPlain = current[2] === '' && current[3] === '';
        if ((lastPlain && count > 1) || curPlain || last.join('\u0000') !== current.join('\u0000')) {
          inserted = true;
          next.push({ ...rule });
        } else {
          position++;
        }
      }
      last = current;
      count++;
      const ret = matchRules(r, rule);
      if (ret < 1) matches++;
      if (ret === 0 && !found && !inserted) {
        found = true;
        if (!req.remove) next.push({ ...rule });
      } else if (ret === -2 && req.remove && rule.comment === '') {
        found = true;
      } else if (ret < 0 && !req.remove && !inserted) {
        found = true;
        modified = true;
        next.push({ ...rule });
      } else {
        next.push(r);
      }
    }

    if (inserted) {
      if (matches > 0) return M.skipInsertExisting + tag;
    } else {
      if (!found && !req.remove) next.push({ ...rule });
      if (!found && req.remove && !this.opts.dryRun) return M.deleteNonExistent + tag;
      if (found && !req.remove && !modified) return M.skipAddExisting + tag;
    }
    list.replace(next);
    this.commit(v6);
    return this.updatedMessage(v6, inserted, modified, found, req.remove);
  }

  private updatedMessage(v6: boolean, inserted: boolean, modified: boolean, found: boolean, remove: boolean): string {
    const tag = v6 ? ' (v6)' : '';
    if (!this.opts.enabled || this.opts.dryRun) return M.rulesUpdated + tag;
    if (modified || inserted) return (inserted ? M.ruleInserted : M.ruleUpdated) + tag;
    if (found && remove) return M.ruleDeleted + tag;
    if (!found && !modified && !remove) return M.ruleAdded + tag;
    return M.rulesUpdated + tag;
  }

  /**
   * Resolve app names case-insensitively like ufw's do_action (a deleted rule may name a
   * profile that no longer exists).
   */
  private resolveApps(cmd: RuleCommand): void {
    const r = cmd.rule;
    if (r.dapp !== '') {
      try {
        const name = findApplicationName(this.opts.profiles, r.dapp);
        if (name !== r.dapp) {
          r.dapp = name;
          r.dport = name;
        }
      } catch (e) {
        if (!cmd.remove) throw e;
        if (!validProfileName(r.dapp)) throw new UfwError(M.invalidProfileName);
      }
    }
    if (r.sapp !== '') {
      try {
        const name = findApplicationName(this.opts.profiles, r.sapp);
        if (name !== r.sapp) {
          r.sapp = name;
          // ufw stores the corrected name in the destination port here; with no destination
          // app that makes it parse the name as a port and fail with "Bad port"
          if (r.dapp === '') throw new UfwError(M.badPort(name));
          r.dport = name;
        }
      } catch (e) {
        if (!cmd.remove) throw e;
        if (!validProfileName(r.sapp)) throw new UfwError(M.invalidProfileName);
      }
    }
  }

  /** Apply a parsed allow/deny/reject/limit (insert, prepend, delete RULE) command. */
  applyRule(cmd: RuleCommand): EditResult {
    this.resolveApps(cmd);
    return this.applyResolved(cmd.rule, cmd.iptype, cmd.position, cmd.remove);
  }

  private applyResolved(base: Rule, iptype: IpType, position: number, remove: boolean): EditResult {
    const warnings: string[] = [];
    let reqs: Req[];
    if (!isAppRule(base)) {
      reqs = [{ rule: { ...base }, position, remove, updated: false }];
    } else if (remove) {
      // ufw deletes an app rule through the IPv4 copies when the rule is for both families
      const system = this.appRulesFromSystem(base, iptype === 'v6');
      if (system.length === 0 && !this.opts.dryRun) {
        const t = M.deleteNonExistent;
        const output = iptype === 'v4' ? t : iptype === 'v6' ? `${t} (v6)` : `${t}\n${t} (v6)`;
        return { output, warnings, changed: false };
      }
      reqs = system.map((r) => ({ rule: { ...r, action: base.action, logtype: base.logtype }, position: 0, remove: true, updated: false }));
    } else {
      reqs = expandAppRule(this.opts.profiles, base).map((rule) => ({ rule, position, remove: false, updated: false }));
      if (position !== 0) reqs.reverse();
    }

    let numV4 = this.v4.count();
    const numV6 = this.v6.count();
    let out = '';
    let error: string | null = null;
    const begin = (count: number, n: number) => (count === 0 && n === 0 ? 0 : 1);
    for (let count = 0; count < reqs.length; count++) {
      const r = reqs[count]!;
      if (r.position > numV4 + numV6) {
        const msg = M.invalidPosition(r.position);
        if (reqs.length === 1) throw new UfwError(msg);
        error = msg;
        break;
      }
      try {
        if (!this.opts.ipv6) {
          if (r.position === -1) r.position = begin(count, numV4);
          if (iptype === 'v6') throw new UfwError(M.ipv6NotEnabled);
          r.rule.v6 = false;
          out = this.setRule(r);
        } else if (iptype === 'v4') {
          if (r.position === -1) r.position = begin(count, numV4);
          else if (r.position > numV4) throw new UfwError(M.invalidPosition(r.position));
          r.rule.v6 = false;
          out = this.setRule(r);
        } else if (iptype === 'v6') {
          if (r.position === -1) r.position = begin(count, numV6);
          else if (r.position > numV4) r.position -= numV4;
          else if (r.position !== 0 && r.position <= numV4) throw new UfwError(M.invalidPosition(r.position));
          r.rule.v6 = true;
          out = this.setRule(r);
        } else {
          const userPos = r.position;
          r.rule.v6 = false;
          if (userPos === -1) r.position = begin(count, numV4);
          else if (!r.remove && userPos > numV4) {
            const p = this.findOtherPosition(userPos - numV4 + count, true);
            r.position = p > 0 ? p : 0;
          }
          let tmp = this.setRule(r);
          if (!r.remove && userPos > 0) {
            numV4 = this.v4.count();
            r.position = userPos + 1;
          }
          r.rule = { ...r.rule, v6: true };
          if (userPos === -1) r.position = begin(count, numV6);
          else if (!r.remove && r.position > 0 && r.position <= numV4) {
            const p = this.findOtherPosition(r.position, false);
            r.position = p > 0 ? p - count : 0;
          }
          if (tmp !== '') tmp += '\n';
          if (!r.remove && r.position > numV4 && userPos !== -1) r.position -= numV4;
          tmp += this.setRule(r);
          out = tmp;
        }
      } catch (e) {
        if (!(e instanceof UfwError)) throw e;
        error = e.message;
        break;
      }
      if (r.updated) warnings.push(M.changedAfterNormalization);
    }
    if (error !== null) {
      if (reqs.length === 1) throw new UfwError(error);
      // the caller discards the whole edit, which is what ufw's back-out aims at
      throw new UfwError(error + M.appRulesError + M.appRulesUnapplied);
    }
    return { output: out, warnings, changed: this.changed };
  }

  /** `delete NUM` after confirmation: removes the numbered rule (all of an app rule's expansion). */
  deleteNumber(n: number): EditResult {
    const rule = this.ruleByNumber(n);
    if (!rule) throw new UfwError(M.couldNotFindRule(n));
    return this.applyResolved({ ...rule }, rule.v6 ? 'v6' : 'v4', 0, true);
  }

  get dirty(): boolean {
    return this.changed;
  }
}
