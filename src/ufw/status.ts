/**
 * `status`, `status numbered`, `status verbose` and `show added`, rendered line for line like
 * ufw 0.36.2 (column widths, "(v6)" labels, app rows, interface and log annotations, comments,
 * section breaks between incoming, outgoing and routed rules, trailing blanks included).
 *
 * Everything comes from the saved state; nothing here asks the datapath.
 */
import type { FirewallState, Rule } from './model.js';
import { M } from './messages.js';
import { formatAddedLine } from './grammar.js';
import { appTuple, isAppRule } from './rules.js';

export type StatusMode = 'plain' | 'verbose' | 'numbered';

export interface StatusContext {
  /** IP forwarding is on in this namespace (else ufw reports the routed policy as "disabled"). */
  forwarding: boolean;
}

const isAny = (a: string) => a === 'any' || a === '0.0.0.0/0' || a === '::/0';

/** The To (dst) or From (src) cell of one rule. */
function cell(r: Rule, loc: 'dst' | 'src', verbose: boolean, showProto: boolean): string {
  const addr = loc === 'dst' ? r.dst : r.src;
  const app = loc === 'dst' ? r.dapp : r.sapp;
  const anyAddr = isAny(addr);
  const v6Any = r.v6 && anyAddr;
  let port: string;
  if (!verbose && app !== '') port = app + (v6Any ? ' (v6)' : '');
  else port = loc === 'dst' ? r.dport : r.sport;

  let text = anyAddr ? '' : addr;
  if (port !== 'any') {
    text = text === '' ? port : `${text} ${port}`;
    if (showProto && r.protocol !== 'any') text += `/${r.protocol}`;
    if (verbose && app !== '') text += ` (${app}${v6Any ? ' (v6)' : ''})`;
    if (r.v6 && isAny(r.src) && isAny(r.dst) && !text.includes(' (v6)')) text += ' (v6)';
  } else if (anyAddr) {
    text = 'Anywhere';
    // a protocol with no ports and no addresses is shown on Anywhere
    if (showProto && r.protocol !== 'any' && r.dst === r.src && r.dport === r.sport) text += `/${r.protocol}`;
    if (v6Any) text += ' (v6)';
  } else if (showProto && r.protocol !== 'any' && r.dport === r.sport) {
    text += `/${r.protocol}`;
  }
  // route rules show the flow (in-interface under From); others the host's view (in under To)
  const iface = r.forward ? (loc === 'src' ? r.ifaceIn : r.ifaceOut) : loc === 'dst' ? r.ifaceIn : r.ifaceOut;
  if (iface !== '') text += ` on ${iface}`;
  return text;
}

function ruleLine(r: Rule, mode: StatusMode, number: number, showProto: boolean): string {
  const verbose = mode === 'verbose';
  const numbered = mode === 'numbered';
  const attribs: string[] = [];
  if (r.logtype) attribs.push(r.logtype);
  if (numbered && r.direction === 'out') attribs.push('out');
  const attrib = attribs.length ? ` (${attribs.join(', ')})` : '';
  let dir = r.forward ? 'FWD' : r.direction.toUpperCase();
  if (r.direction === 'in' && !r.forward && !verbose && !numbered) dir = '';
  const comment = r.comment !== '' ? ` # ${r.comment}` : '';
  const prefix = numbered ? `[${String(number).padStart(2)}] ` : '';
  const dst = cell(r, 'dst', verbose, showProto);
  const src = cell(r, 'src', verbose, showProto);
  return `${prefix}${dst.padEnd(26)} ${`${r.action.toUpperCase()} ${dir}`.padEnd(12)}${src.padEnd(26)}${attrib}${comment}\n`;
}

/** The rule table ufw appends to "Status: active" (empty when there are no rules). */
function ruleTable(state: FirewallState, mode: StatusMode): string {
  const verbose = mode === 'verbose';
  const numbered = mode === 'numbered';
  let incoming = '';
  let outgoing = '';
  let routed = '';
  const seen = new Set<string>();
  let n = 1;
  for (const r of [...state.rules, ...state.rules6]) {
    let showProto = true;
    if (!verbose && isAppRule(r)) {
      showProto = false;
      const t = appTuple(r);
      if (seen.has(t)) continue;
      seen.add(t);
    }
    const line = ruleLine(r, mode, n, showProto);
    if (numbered) incoming += line;
    else if (r.forward) routed += line;
    else if (r.direction === 'out') outgoing += line;
    else incoming += line;
    n++;
  }
  if (incoming === '' && outgoing === '' && routed === '') return '';
  const indent = numbered ? '     ' : '';
  const header = (to: string, action: string, from: string) => `${to.padEnd(26)} ${action.padEnd(12)}${from}\n`;
  let s = `\n\n${indent}${header('To', 'Action', 'From')}${indent}${header('--', '------', '----')}`;
  s += incoming;
  if (incoming !== '' && outgoing !== '') s += '\n';
  s += outgoing;
  if (incoming !== '' && routed !== '') s += '\n';
  s += routed;
  return s;
}

const policyWord = (p: string) => (p === 'disabled' ? 'deny' : p);

/** The text ufw prints for `status` / `status numbered` / `status verbose` (without the final newline). */
export function renderStatus(state: FirewallState, mode: StatusMode, ctx: StatusContext): string {
  if (!state.enabled) return M.statusInactive;
  const table = ruleTable(state, mode);
  if (mode !== 'verbose') return M.statusActive + table;
  const logging = state.logging === 'off' ? 'Logging: off' : `Logging: on (${state.logging})`;
  const routed = ctx.forwarding ? policyWord(state.defaults.routed) : 'disabled';
  const policy = `Default: ${state.defaults.incoming} (incoming), ${state.defaults.outgoing} (outgoing), ${routed} (routed)`;
  const apps = `New profiles: ${state.appPolicy ?? 'skip'}`;
  return `${M.statusActive}\n${logging}\n${policy}\n${apps}${table}`;
}

/** `show added`: the commands that recreate the rules, IPv4 list first, duplicates once. */
export function renderShowAdded(state: FirewallState): string {
  const all = [...state.rules, ...state.rules6];
  if (all.length === 0) return `${M.showAddedHeader}\n${M.none}`;
  const lines = new Set<string>();
  for (const r of all) lines.add(formatAddedLine(r));
  return [M.showAddedHeader, ...[...lines].map((l) => `ufw ${l}`)].join('\n');
}
