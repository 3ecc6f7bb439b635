/**
 * ufw's command-line grammar: argv -> typed command (parse), and Rule -> the command text ufw
 * prints for it in `show added`, delete prompts and `delete RULE` (formatRuleCommand). The two
 * round-trip: parsing formatRuleCommand(r) yields r again (modulo app-port expansion, which
 * happens later, when the rule is applied).
 *
 * The checks run in ufw's order so the first error reported for a bad line is ufw's first
 * error, with ufw's text. Two failure kinds exist, as in ufw: UfwSyntaxError (ufw prints its
 * usage text and "ERROR: Invalid syntax") and UfwError (ufw prints "ERROR: <message>").
 * Both exit with status 1.
 *
 * Parsing touches no state; the only outside data it reads is /etc/services (service names).
 */
import type { Action, Direction, LogType, Rule } from './model.js';
import { validAddress } from './address.js';
import { servicePort, serviceProto } from './services.js';
import { M } from './messages.js';

export class UfwError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UfwError';
  }
}

/** A command ufw rejects with its usage text. `message` is what follows "ERROR: ". */
export class UfwSyntaxError extends Error {
  constructor(message: string = M.invalidSyntax) {
    super(message);
    this.name = 'UfwSyntaxError';
  }
}

export const SUPPORTED_PROTOCOLS = ['tcp', 'udp', 'ipv6', 'esp', 'ah', 'igmp', 'gre', 'vrrp'];
export const PORTLESS_PROTOCOLS = ['ipv6', 'esp', 'ah', 'igmp', 'gre', 'vrrp'];
export const IPV4_ONLY_PROTOCOLS = ['ipv6', 'igmp'];

/** Which address families a rule goes to: decided by its addresses (and protocol). */
export type IpType = 'v4' | 'v6' | 'both';

export interface RuleCommand {
  kind: 'rule';
  /** ufw's action word as typed (lowercased): allow | deny | reject | limit. */
  action: Action;
  rule: Rule;
  iptype: IpType;
  /** 0 append, -1 prepend, N insert before rule N (as `status numbered` counts). */
  position: number;
  remove: boolean;
}

export type UfwCommand =
  | { kind: 'basic'; action: 'enable' | 'disable' | 'reload' | 'reset' | 'help' | 'version' }
  | { kind: 'logging'; level: 'on' | 'off' | 'low' | 'medium' | 'high' | 'full' }
  | { kind: 'default'; policy: 'allow' | 'deny' | 'reject'; direction: 'incoming' | 'outgoing' | 'routed' }
  | { kind: 'status'; mode: 'plain' | 'verbose' | 'numbered' }
  | { kind: 'show'; report: 'raw' | 'before-rules' | 'user-rules' | 'after-rules' | 'logging-rules' | 'builtins' | 'listening' | 'added' }
  | RuleCommand
  /** `delete NUM`; `number` is the text ufw would later convert (it may be negative). */
  | { kind: 'delete-number'; number: string }
  | {
      kind: 'app';
      action: 'list' | 'info' | 'update' | 'update-with-new' | 'default-allow' | 'default-deny' | 'default-reject' | 'default-skip';
      name: string;
    };

export interface ParsedCommand {
  command: UfwCommand;
  dryRun: boolean;
  force: boolean;
  /** The first word was `app` (ufw only runs app actions when it was). */
  appAction: boolean;
}

/** A rule with ufw's defaults: any protocol, anywhere to anywhere, incoming. */
export function blankRule(action: Action = 'allow'): Rule {
  return {
    action,
    direction: 'in',
    forward: false,
    protocol: 'any',
    src: 'any',
    dst: 'any',
    sport: 'any',
    dport: 'any',
    sapp: '',
    dapp: '',
    ifaceIn: '',
    ifaceOut: '',
    logtype: '',
    v6: false,
    comment: '',
  };
}

/** Python's int() on a string: optional blanks and sign, digits with single '_' separators. */
export function pythonInt(s: string): number | null {
  const m = /^\s*([+-]?)(\d+(?:_\d+)*)\s*$/.exec(s);
  if (!m) return null;
  const n = Number(m[2]!.replace(/_/g, ''));
  return m[1] === '-' ? -n : n;
}

/** ufw's valid_profile_name(): letters/digits first, then [A-Za-z0-9 _-.+]; not 'all', not an integer. */
export function validProfileName(name: string): boolean {
  if (name === 'all') return false;
  if (pythonInt(name) !== null) return false;
  return /^[a-zA-Z0-9][a-zA-Z0-9 _\-.+]*$/.test(name);
}

/** A port list ufw treats as numeric: digits, ',' and ':' only, starting and ending in a digit. */
const NUMERIC_PORTS = /^\d(?:[0-9,:]*\d)?$/;

/** ufw's parse_port_proto(): 'PORT' or 'PORT/PROTO'. */
export function splitPortProto(s: string): { port: string; proto: string } {
  const parts = s.split('/');
  if (parts.length === 1) return { port: parts[0]!, proto: 'any' };
  if (parts.length === 2) {
    if (PORTLESS_PROTOCOLS.includes(parts[1]!)) throw new UfwError(M.invalidPortWithProto(parts[1]!));
    return { port: parts[0]!, proto: parts[1]! };
  }
  throw new UfwError(M.badPortPlain);
}

/**
 * ufw's port check and normalisation (service names -> numbers): returns the stored text or
 * throws "Bad port 'X'". Does not sort: sorting happens when the rule is applied.
 */
export function checkPort(port: string): string {
  if (port === 'any') return port;
  const bad = () => new UfwError(M.badPort(port));
  if (/^[,:]/.test(port) || port === ',' || port === ':') throw bad();
  if ((port.match(/[,:]/g)?.length ?? 0) > 14) throw bad();
  const out: string[] = [];
  for (const p of port.split(',')) {
    if (/^\d+:\d+$/.test(p)) {
      const [lo, hi] = p.split(':').map(Number) as [number, number];
      if (lo < 1 || lo > 65535 || hi < 1 || hi > 65535 || lo >= hi) throw bad();
      out.push(p);
    } else if (/^\d+$/.test(p)) {
      const n = Number(p);
      if (n < 1 || n > 65535) throw bad();
      out.push(p);
    } else if (/^\w[\w-]+/.test(p)) {
      const n = servicePort(p);
      if (n === null) throw bad();
      out.push(String(n));
    } else {
      throw bad();
    }
  }
  return out.join(',');
}

/** true when a port field names several ports (a list or a range): iptables multiport. */
export const isMultiPort = (p: string) => p !== 'any' && (p.includes(',') || p.includes(':'));

function checkProtocol(p: string): string {
  if (p === 'any' || SUPPORTED_PROTOCOLS.includes(p)) return p;
  throw new UfwError(M.unsupportedProtocol(p));
}

/** ufw's interface-name checks (kernel and xtables limits, plus no shell metacharacters). */
export function checkInterface(name: string): string {
  if (name.includes('!')) throw new UfwError(M.badIfaceReserved);
  if (name.includes(':')) throw new UfwError(M.badIfaceAlias);
  if (name === '.' || name === '..') throw new UfwError(M.badIfaceDots);
  if (name.length === 0) throw new UfwError(M.badIfaceEmpty);
  if (name.length > 15) throw new UfwError(M.badIfaceLong);
  if (!/^[a-zA-Z0-9_\-.+,=%@]+$/.test(name)) throw new UfwError(M.badIface);
  return name;
}

/** Working state of a rule while its words are read; ports may still hold app names. */
interface Draft {
  rule: Rule;
  position: number;
  remove: boolean;
}

function setPort(d: Draft, value: string, loc: 'src' | 'dst'): void {
  const isApp = loc === 'dst' ? d.rule.dapp !== '' : d.rule.sapp !== '';
  const v = isApp ? value : checkPort(value);
  if (loc === 'dst') d.rule.dport = v;
  else d.rule.sport = v;
}

function setAddress(d: Draft, value: string, loc: 'src' | 'dst'): void {
  const a = value.toLowerCase();
  if (a !== 'any' && !validAddress(a, 'any')) throw new UfwError(loc === 'src' ? M.badSource : M.badDestination);
  const stored = a === '0.0.0.0/0' || a === '::/0' ? 'any' : a;
  if (loc === 'src') d.rule.src = stored;
  else d.rule.dst = stored;
}

const lc = (s: string | undefined) => (s ?? '').toLowerCase();

/**
 * The rule words after the action verb: ufw's UFWCommandRule.parse(). `argv` starts with the
 * action word (or `delete` / `insert N` / `prepend`). Returns a rule command or delete-by-number.
 */
function parseRuleWords(input: string[]): RuleCommand | { kind: 'delete-number'; number: string } {
  const argv = [...input];
  let action = '';
  let insertPos: string | number = '';
  let remove = false;
  let logtype: LogType = '';
  let toService = '';
  let fromService = '';
  let fromType: IpType | 'any' = 'any';
  let toType: IpType | 'any' = 'any';
  let iptype: IpType = 'both';

  if (lc(argv[0]) === 'rule') argv.shift();

  if (argv.length > 0) {
    if (lc(argv[0]) === 'delete' && argv.length > 1) {
      remove = true;
      argv.shift();
      const n = pythonInt(argv[0]!);
      if (n !== null) return { kind: 'delete-number', number: String(n) };
    } else if (lc(argv[0]) === 'insert') {
      if (argv.length < 4) throw new UfwSyntaxError();
      insertPos = argv[1]!;
      if (insertPos === '0' || insertPos === '-1') throw new UfwError(M.cannotInsertAt(insertPos));
      argv.splice(0, 2);
    } else if (lc(argv[0]) === 'prepend') {
      insertPos = -1;
      argv.shift();
    }
    if (argv.length === 0) throw new UfwSyntaxError();
    action = argv[0]!;
  }
  if (action !== 'allow' && action !== 'deny' && action !== 'reject' && action !== 'limit') throw new UfwSyntaxError();
  if (argv.length < 2) throw new UfwSyntaxError();

  // direction word (kept when followed by 'on': then it is an interface clause)
  let direction: Direction = 'in';
  const d1 = lc(argv[1]);
  if (d1 === 'in' || d1 === 'out') direction = d1;
  if (argv.length > 2 && argv[2] !== 'on' && (d1 === 'in' || d1 === 'out')) argv.splice(1, 1);

  // 'in on IFACE' / 'out on IFACE' (ufw looks for the exact lowercase words here)
  let hasInterface = false;
  if (argv.length > 1 && (argv.includes('in') || argv.includes('out'))) {
    const a1 = lc(argv[1]);
    if (a1 !== 'in' && a1 !== 'out') throw new UfwError(M.invalidInterfaceClause);
    if (argv.length < 3 || lc(argv[2]) !== 'on') throw new UfwError(M.invalidInterfaceClause);
    argv.splice(2, 1);
    hasInterface = true;
  }

  let logIdx = 0;
  const isLogWord = (s: string | undefined) => lc(s) === 'log' || lc(s) === 'log-all';
  if (hasInterface && argv.length > 3 && isLogWord(argv[3])) logIdx = 3;
  else if (argv.length > 2 && isLogWord(argv[1])) logIdx = 1;
  if (logIdx > 0) {
    logtype = lc(argv[logIdx]) as LogType;
    argv.splice(logIdx, 1);
  }
  if (argv.includes('log')) throw new UfwError(M.logNotAllowed);
  if (argv.includes('log-all')) throw new UfwError(M.logAllNotAllowed);

  let comment = '';
  const ci = argv.indexOf('comment');
  if (ci >= 0) {
    if (ci === argv.length - 1) throw new UfwError(M.commentMissing);
    comment = argv[ci + 1]!;
    // ufw cannot store "'" in a comment and reports it as a syntax error
    if (comment.includes("'")) throw new UfwSyntaxError();
    argv.splice(ci, 2);
  }

  const nargs = argv.length;
  if (nargs < 2 || nargs > 13) throw new UfwSyntaxError();

  const d: Draft = { rule: { ...blankRule(action), direction, logtype, comment }, position: 0, remove };
  const rule = d.rule;
  if (!remove && insertPos !== '') {
    if (insertPos !== -1 && !/^[0-9]+/.test(String(insertPos))) throw new UfwError(M.badInsertPosition(String(insertPos)));
    const n = insertPos === -1 ? -1 : pythonInt(String(insertPos));
    if (n === null) throw new UfwSyntaxError();
    d.position = n;
  }

  if (nargs === 2) {
    // short form: PORT[/PROTO], a service name, or an application profile
    const word = argv[1]!;
    if (validProfileName(word) && serviceProto(word) === null) {
      iptype = 'both';
      rule.dapp = word;
      setPort(d, word, 'dst');
    }
    if (rule.dapp === '') {
      const { port, proto } = splitPortProto(word);
      if (!NUMERIC_PORTS.test(port)) {
        if (port.includes(',') || port.includes(':')) throw new UfwError(M.portRangesNumeric);
        toService = port;
      }
      try {
        rule.protocol = checkProtocol(proto);
        setPort(d, port, 'dst');
        iptype = 'both';
      } catch (e) {
        if (e instanceof UfwError) throw new UfwError(M.badPortPlain);
        throw e;
      }
    }
  } else if ((nargs + 1) % 2 !== 0) {
    throw new UfwError(M.wrongArgs);
  } else if (!argv.includes('from') && !argv.includes('to') && !argv.includes('in') && !argv.includes('out')) {
    throw new UfwError(M.needToFrom);
  } else {
    // full form: keyword/value pairs
    const keys = ['proto', 'from', 'to', 'port', 'app', 'in', 'out'];
    const count = (w: string) => argv.filter((a) => a === w).length;
    if (
      count('to') > 1 ||
      count('from') > 1 ||
      count('proto') > 1 ||
      count('port') > 2 ||
      count('in') > 1 ||
      count('out') > 1 ||
      count('app') > 2 ||
      (count('app') > 0 && count('proto') > 0)
    ) {
      throw new UfwError(M.improperSyntax);
    }
    let loc: '' | 'src' | 'dst' = '';
    // ufw walks every word: odd positions must be keywords, and a keyword found anywhere acts
    for (let i = 0; i < nargs; i++) {
      const arg = argv[i]!;
      if (i % 2 !== 0 && !keys.includes(arg)) throw new UfwError(M.invalidToken(arg));
      if (!keys.includes(arg)) continue;
      const val = argv[i + 1];
      if (val === undefined) {
        const clause = arg === 'app' ? 'port' : arg;
        throw new UfwError(`Invalid '${clause}' clause`);
      }
      if (arg === 'proto') {
        rule.protocol = checkProtocol(val);
      } else if (arg === 'in' || arg === 'out') {
        if (arg === 'in') rule.ifaceIn = checkInterface(val);
        else rule.ifaceOut = checkInterface(val);
      } else if (arg === 'from' || arg === 'to') {
        const a = val.toLowerCase();
        const t: IpType | 'any' = a === 'any' ? 'any' : validAddress(a, '6') ? 'v6' : 'v4';
        setAddress(d, a === 'any' ? '0.0.0.0/0' : a, arg === 'from' ? 'src' : 'dst');
        if (arg === 'from') {
          fromType = t;
          loc = 'src';
        } else {
          toType = t;
          loc = 'dst';
        }
      } else {
        // port / app
        if (loc === '') throw new UfwError(M.needFromToWith(arg));
        if (arg === 'app') {
          if (loc === 'src') rule.sapp = val;
          else rule.dapp = val;
        } else if (!NUMERIC_PORTS.test(val)) {
          if (val.includes(',') || val.includes(':')) throw new UfwError(M.portRangesNumeric);
          if (loc === 'src') fromService = val;
          else toService = val;
        }
        setPort(d, val, loc);
      }
    }
    if (fromType === 'any' && toType === 'any') iptype = 'both';
    else if (fromType !== 'any' && toType !== 'any' && fromType !== toType) throw new UfwError(M.mixedVersions);
    else if (fromType !== 'any') iptype = fromType;
    else if (toType !== 'any') iptype = toType;
  }

  // a service name fixes the protocol (tcp, udp or both)
  if (toService !== '' || fromService !== '') {
    let proto = '';
    if (toService !== '') {
      const p = serviceProto(toService);
      if (p === null) throw new UfwError(M.couldNotFindProtocol);
      proto = p;
    }
    if (fromService !== '') {
      const p = serviceProto(fromService);
      if (p === null) throw new UfwError(M.couldNotFindProtocol);
      if (proto === 'any' || proto === '') proto = p;
      else if (p !== proto && p !== 'any') throw new UfwError(M.protoMismatchFromTo);
    }
    if (rule.protocol === 'any') rule.protocol = checkProtocol(proto);
    else if (proto !== 'any' && rule.protocol !== proto) throw new UfwError(M.protoMismatchWith(rule.protocol));
  }

  if (IPV4_ONLY_PROTOCOLS.includes(rule.protocol) && iptype === 'both') iptype = 'v4';
  verifyRule(rule, iptype);

  return { kind: 'rule', action: action as Action, rule, iptype, position: d.position, remove };
}

/** ufw's UFWRule.verify(): protocol/app/port/family consistency. */
function verifyRule(rule: Rule, iptype: IpType): void {
  if (rule.protocol !== 'any' && (rule.sapp !== '' || rule.dapp !== '')) throw new UfwError(M.improperAppSyntax(rule.protocol));
  if (IPV4_ONLY_PROTOCOLS.includes(rule.protocol) && iptype === 'v6') throw new UfwError(M.invalidV6WithProto(rule.protocol));
  if (PORTLESS_PROTOCOLS.includes(rule.protocol) && (rule.dport !== 'any' || rule.sport !== 'any')) {
    throw new UfwError(M.invalidPortWithProto(rule.protocol));
  }
}

/** `route ...`: a rule on forwarded traffic; both 'in on X' and 'out on Y' may be given. */
function parseRouteWords(argv: string[]): RuleCommand | { kind: 'delete-number'; number: string } {
  const di = argv.indexOf('delete');
  if (di >= 0) {
    const next = argv[di + 1];
    if (next === undefined) throw new UfwSyntaxError();
    if (pythonInt(next) !== null) throw new UfwError(M.routeDeleteNum);
  }
  const s = argv.join(' ');
  let ruleArgv: string[];
  let strip: 'in' | 'out' | null = null;
  let iface = '';
  if (s.includes(' in on ') && s.includes(' out on ')) {
    strip = argv.indexOf('in') > argv.indexOf('out') ? 'in' : 'out';
    const idx = argv.indexOf(strip);
    iface = argv[idx + 2]!;
    ruleArgv = [...argv.slice(0, idx), ...argv.slice(idx + 3)];
  } else if (!/ (in|out) on /.test(s) && !/ app (in|out) /.test(s) && (s.includes(' in ') || s.includes(' out '))) {
    throw new UfwError(M.invalidRouteInterfaceClause);
  } else {
    ruleArgv = [...argv];
  }
  ruleArgv[0] = 'rule';
  const r = parseRuleWords(ruleArgv);
  if (r.kind === 'rule') {
    r.rule.forward = true;
    if (strip === 'in') r.rule.ifaceIn = checkInterface(iface);
    else if (strip === 'out') r.rule.ifaceOut = checkInterface(iface);
  }
  return r;
}

// ---- top-level dispatch, mirroring how ufw finds the command type of argv[0] ----

type CommandType = 'basic' | 'app' | 'logging' | 'default' | 'status' | 'show' | 'rule' | 'route';
const RULE_VERBS = ['allow', 'limit', 'deny', 'reject', 'insert', 'delete', 'prepend'];
/** ufw's registry, in registration order (the order decides which type a bare word resolves to). */
const REGISTRY: Array<[CommandType, string[]]> = [
  ['basic', ['enable', 'disable', 'help', '--help', '-h', 'version', '--version', 'reload', 'reset']],
  ['app', ['list', 'info', 'default', 'update']],
  ['logging', ['on', 'off', 'low', 'medium', 'high', 'full']],
  ['default', ['allow', 'deny', 'reject']],
  ['status', ['status', 'verbose', 'numbered']],
  ['show', ['raw', 'before-rules', 'user-rules', 'after-rules', 'logging-rules', 'builtins', 'listening', 'added']],
  ['rule', RULE_VERBS],
  ['route', RULE_VERBS],
];
const registryHas = (t: string, c: string) => REGISTRY.some(([ty, cmds]) => ty === t && cmds.includes(c));

function parseTyped(type: CommandType, argv: string[]): UfwCommand | RuleCommand {
  switch (type) {
    case 'basic': {
      if (argv.length !== 1) throw new UfwSyntaxError();
      const w = lc(argv[0]);
      const action = w === '--help' || w === '-h' ? 'help' : w === '--version' ? 'version' : w;
      return { kind: 'basic', action: action as 'enable' };
    }
    case 'app': {
      if (argv[0] !== 'app') throw new UfwSyntaxError();
      const a = argv.slice(1);
      let action = lc(a[0]);
      let name = '';
      if (action === 'info' || action === 'update') {
        let addNew = false;
        if (a.length >= 3 && a[1] === '--add-new') {
          addNew = true;
          a.splice(a.indexOf('--add-new'), 1);
        }
        if (a.length < 2) throw new UfwSyntaxError();
        name = a[1]!.replace(/^[[\]']+|[[\]']+$/g, '');
        if (addNew) action += '-with-new';
      }
      if (action === 'list' && a.length !== 1) throw new UfwSyntaxError();
      if (action === 'default') {
        if (a.length < 2) throw new UfwSyntaxError();
        const p = lc(a[1]);
        if (!['allow', 'deny', 'reject', 'skip'].includes(p)) throw new UfwSyntaxError();
        action = `default-${p}`;
      }
      return { kind: 'app', action: action as 'list', name };
    }
    case 'logging': {
      if (argv.length < 2) throw new UfwSyntaxError();
      const l = lc(argv[1]);
      if (!['off', 'on', 'low', 'medium', 'high', 'full'].includes(l)) throw new UfwSyntaxError();
      return { kind: 'logging', level: l as 'on' };
    }
    case 'default': {
      if (argv.length < 2) throw new UfwSyntaxError();
      let direction: 'incoming' | 'outgoing' | 'routed' = 'incoming';
      if (argv.length > 2) {
        const w = lc(argv[2]);
        if (!['incoming', 'input', 'routed', 'forward', 'output', 'outgoing'].includes(w)) throw new UfwSyntaxError();
        direction = w.startsWith('in') ? 'incoming' : w.startsWith('out') ? 'outgoing' : 'routed';
      }
      const p = lc(argv[1]);
      if (p !== 'allow' && p !== 'deny' && p !== 'reject') throw new UfwSyntaxError();
      return { kind: 'default', policy: p, direction };
    }
    case 'status': {
      if (argv.length === 1) return { kind: 'status', mode: 'plain' };
      const w = lc(argv[1]);
      if (w === 'verbose') return { kind: 'status', mode: 'verbose' };
      if (w === 'numbered') return { kind: 'status', mode: 'numbered' };
      throw new UfwSyntaxError();
    }
    case 'show': {
      if (argv.length === 1) throw new UfwSyntaxError();
      const w = lc(argv[1]);
      const reports = REGISTRY.find(([t]) => t === 'show')![1];
      if (!reports.includes(w)) throw new UfwSyntaxError();
      return { kind: 'show', report: w as 'added' };
    }
    case 'rule':
      return parseRuleWords(argv);
    case 'route':
      return parseRouteWords(argv);
  }
}

/**
 * Parse a ufw command line (without the program name). Throws UfwSyntaxError or UfwError with
 * ufw's message.
 */
export function parseUfwArgs(input: string[]): ParsedCommand {
  const args = [...input];
  // ufw inserts the word 'rule' before a rule verb (not after 'default' or 'route')
  if (args.length > 1) {
    const idx = lc(args[0]) === '--dry-run' ? 1 : 0;
    const w = lc(args[idx]);
    if (w !== 'default' && w !== 'route' && RULE_VERBS.includes(w)) args.splice(idx, 0, 'rule');
  }
  if (args.length < 1 || (args.includes('--dry-run') && args.length < 2)) throw new UfwSyntaxError(M.notEnoughArgs);

  const appIdx = lc(args[0]) === '--dry-run' ? 1 : 0;
  const appAction = args.length > appIdx && lc(args[appIdx]) === 'app';

  let dryRun = false;
  let force = false;
  if (args.length > 0 && lc(args[0]) === '--dry-run') {
    dryRun = true;
    args.shift();
  }
  if (args.length > 0 && (lc(args[0]) === '--force' || lc(args[0]) === '-f')) {
    force = true;
    args.shift();
  }
  if (args.length === 0) throw new UfwSyntaxError();

  const first = lc(args[0]);
  let type: CommandType | '' = '';
  let cmd = first;
  if (args.length > 1 && REGISTRY.some(([t]) => t === first) && registryHas(first, lc(args[1]))) {
    type = first as CommandType;
    cmd = lc(args[1]);
  } else {
    // the first type (in registration order) that knows the word; route never matches a bare verb
    for (const [t, cmds] of REGISTRY) {
      if (t === 'route') continue;
      if (cmds.includes(cmd)) {
        type = t;
        break;
      }
    }
    if (type === '') type = 'rule';
  }
  if (!registryHas(type, cmd)) throw new UfwSyntaxError();
  return { command: parseTyped(type, args), dryRun, force, appAction };
}

// ---- formatting: the command text ufw shows for a rule ----

const quoteApp = (app: string) => (app.includes(' ') ? `'${app}'` : app);
const isAny = (a: string) => a === 'any' || a === '0.0.0.0/0' || a === '::/0';

/**
 * ufw's get_command(): the shortest command line that recreates the rule (without "ufw "; route
 * rules without the leading "route "). Used by `show added`, the delete prompt and tests.
 */
export function formatRuleCommand(r: Rule): string {
  let res: string = r.action;
  if (isAny(r.dst) && isAny(r.src) && r.sport === 'any' && r.sapp === '' && r.ifaceIn === '' && r.ifaceOut === '' && r.dport !== 'any') {
    if (r.direction === 'out') res += ` ${r.direction}`;
    if (r.logtype !== '') res += ` ${r.logtype}`;
    if (r.dapp !== '') res += ` ${quoteApp(r.dapp)}`;
    else {
      res += ` ${r.dport}`;
      if (r.protocol !== 'any') res += `/${r.protocol}`;
    }
    if (r.comment !== '') res += ` comment '${r.comment}'`;
    return res;
  }
  if (r.ifaceIn !== '') res += ` in on ${r.ifaceIn}`;
  if (r.ifaceOut !== '') res += ` out on ${r.ifaceOut}`;
  else if (r.direction === 'out') res += ` ${r.direction}`;
  if (r.logtype !== '') res += ` ${r.logtype}`;
  for (const [word, addr, port, app] of [
    ['from', r.src, r.sport, r.sapp],
    ['to', r.dst, r.dport, r.dapp],
  ] as const) {
    const loc = isAny(addr) ? 'any' : addr;
    if (loc !== 'any' || port !== 'any' || app !== '') {
      res += ` ${word} ${loc}`;
      if (app !== '') res += ` app ${quoteApp(app)}`;
      else if (port !== 'any') res += ` port ${port}`;
    }
  }
  if (!res.includes(' to ') && !res.includes(' from ') && r.ifaceIn === '' && r.ifaceOut === '') res += ' to any';
  if (r.protocol !== 'any' && r.dapp === '' && r.sapp === '') res += ` proto ${r.protocol}`;
  if (r.comment !== '') res += ` comment '${r.comment}'`;
  return res;
}

/** The full line `show added` prints for a rule (with "route " for forwarded rules). */
export function formatAddedLine(r: Rule): string {
  return r.forward ? `route ${formatRuleCommand(r)}` : formatRuleCommand(r);
}

/**
 * Split a command line into words the way a POSIX shell would for simple quoting ('...', "...",
 * backslash). Used by `difw batch`, whose lines are ufw commands without the program name.
 */
export function shellSplit(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const j = line.indexOf("'", i + 1);
      if (j < 0) throw new UfwError('Unterminated quote');
      cur += line.slice(i + 1, j);
      i = j;
      inWord = true;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && j + 1 < line.length && '"\\$`'.includes(line[j + 1]!)) j++;
        cur += line[j];
      }
      if (j >= line.length) throw new UfwError('Unterminated quote');
      i = j;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}
