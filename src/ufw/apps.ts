/**
 * Application profiles, read from ufw's profile directory (/etc/ufw/applications.d): INI files
 * whose sections name a profile with `title`, `description` and `ports` ("80/tcp|443/tcp",
 * "137,138/udp", "6881:6891/tcp", "53"). difw reads the same directory as ufw so `app` rules
 * resolve to the same ports. Invalid profiles are skipped with ufw's warnings.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Rule } from './model.js';
import { M } from './messages.js';
import { UfwError, checkPort, splitPortProto, validProfileName, SUPPORTED_PROTOCOLS } from './grammar.js';
import { serviceProto } from './services.js';

export const APPS_DIR = process.env.DIFW_UFW_APPS_DIR ?? '/etc/ufw/applications.d';

export interface Profile {
  title: string;
  description: string;
  ports: string;
  [field: string]: string;
}

export interface ProfileSet {
  profiles: Map<string, Profile>;
  /** ufw's "WARN: ..." lines for skipped files/profiles, without the prefix. */
  warnings: string[];
}

/** Minimal RawConfigParser-like reader: sections, `key = value` / `key: value`, indented continuations. */
function parseIni(text: string): Array<[string, Array<[string, string]>]> {
  const sections: Array<[string, Array<[string, string]>]> = [];
  let cur: Array<[string, string]> | null = null;
  let lastKey = -1;
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*([#;].*)?$/.test(raw)) continue;
    const sec = /^\[([^\]]+)\]/.exec(raw);
    if (sec) {
      cur = [];
      sections.push([sec[1]!, cur]);
      lastKey = -1;
      continue;
    }
    if (!cur) throw new Error('option before any section');
    if (/^\s/.test(raw) && lastKey >= 0) {
      cur[lastKey]![1] += `\n${raw.trim()}`;
      continue;
    }
    const m = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(raw);
    if (!m) throw new Error(`cannot parse line '${raw}'`);
    cur.push([m[1]!.toLowerCase(), m[2]!.trim()]);
    lastKey = cur.length - 1;
  }
  return sections;
}

/** ufw's verify_profile(): required fields present and every port entry valid. */
export function verifyProfile(name: string, p: Record<string, string>): void {
  for (const f of ['title', 'description', 'ports']) {
    if (!(f in p)) throw new UfwError(`Profile '${name}' missing required field '${f}'`);
    if (!p[f]) throw new UfwError(`Profile '${name}' has empty required field '${f}'`);
  }
  try {
    for (const entry of p.ports!.split('|')) {
      const { port, proto } = splitPortProto(entry);
      if (proto === 'any' && (port.includes(':') || port.includes(','))) throw new Error('range needs a protocol');
      if (proto !== 'any' && !SUPPORTED_PROTOCOLS.includes(proto)) throw new Error('bad protocol');
      checkPort(port);
    }
  } catch {
    throw new UfwError(`Invalid ports in profile '${name}'`);
  }
}

export function loadProfiles(dir = APPS_DIR): ProfileSet {
  const profiles = new Map<string, Profile>();
  const warnings: string[] = [];
  let files: string[];
  try {
    files = readdirSync(dir).sort();
  } catch {
    throw new UfwError(M.profilesDirMissing);
  }
  const maxSize = 10 * 1024 * 1024;
  let total = 0;
  for (const f of files) {
    const abs = join(dir, f);
    let size: number;
    try {
      const st = statSync(abs);
      if (!st.isFile()) continue;
      size = st.size;
    } catch {
      warnings.push(`Skipping '${f}': couldn't stat`);
      continue;
    }
    if (f.startsWith('.')) continue;
    if (/(\.dpkg-new|\.dpkg-old|\.dpkg-dist|\.rpmnew|\.rpmsave|~)$/.test(f)) continue;
    if (size > maxSize) {
      warnings.push(`Skipping '${f}': too big`);
      continue;
    }
    if (total + size > maxSize) {
      warnings.push(`Skipping '${f}': too many files read already`);
      continue;
    }
    total += size;
    let sections: ReturnType<typeof parseIni>;
    try {
      sections = parseIni(readFileSync(abs, 'utf8'));
    } catch {
      warnings.push(`Skipping '${f}': couldn't process`);
      continue;
    }
    for (const [name, items] of sections) {
      if (name.length > 64) {
        warnings.push(`Skipping '${name}': name too long`);
        continue;
      }
      if (!validProfileName(name)) {
        warnings.push(`Skipping '${name}': invalid name`);
        continue;
      }
      if (serviceProto(name) !== null) {
        warnings.push(`Skipping '${name}': also in /etc/services`);
        continue;
      }
      const tooLong = items.find(([k, v]) => k.length > 64 || v.length > 1024);
      if (tooLong) {
        warnings.push(
          tooLong[0].length > 64 ? `Skipping '${name}': field too long` : `Skipping '${name}': value too long for '${tooLong[0]}'`,
        );
        continue;
      }
      if (profiles.has(name)) warnings.push(`Duplicate profile '${name}', using last found`);
      const p = Object.fromEntries(items) as Profile;
      try {
        verifyProfile(name, p);
        profiles.set(name, p);
      } catch (e) {
        warnings.push((e as Error).message);
      }
    }
  }
  return { profiles, warnings };
}

export const profilePorts = (p: Profile): string[] => (p.ports ? p.ports.split('|') : []);

/** ufw's find_application_name(): the exact name, else the one case-insensitive match. */
export function findApplicationName(set: ProfileSet, name: string): string {
  if (set.profiles.has(name)) return name;
  const matches = [...set.profiles.keys()].filter((n) => n.toLowerCase() === name.toLowerCase());
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) throw new UfwError(M.multipleProfiles(name));
  throw new UfwError(M.couldNotFindProfileMatching(name));
}

function withPortSpec(r: Rule, spec: string, loc: 'src' | 'dst'): void {
  const { port, proto } = splitPortProto(spec);
  r.protocol = proto;
  if (loc === 'dst') r.dport = checkPort(port);
  else r.sport = checkPort(port);
}

/**
 * ufw's get_app_rules_from_template(): one rule per port entry of the profile(s) named by the
 * rule's dapp/sapp; each keeps the app names so status can group them back.
 */
export function expandAppRule(set: ProfileSet, template: Rule): Rule[] {
  const out: Rule[] = [];
  // ufw looks the profiles up by the port fields, which hold the app names until expanded
  const dprof = set.profiles.get(template.dport);
  const sprof = set.profiles.get(template.sport);
  if (dprof && sprof) {
    for (const d of profilePorts(dprof)) {
      const base: Rule = { ...template, sport: 'any' };
      withPortSpec(base, d, 'dst');
      if (template.dport === template.sport) {
        withPortSpec(base, d, 'src');
        out.push(base);
      } else {
        for (const s of profilePorts(sprof)) {
          const r: Rule = { ...base };
          withPortSpec(r, s, 'src');
          if (r.protocol === 'any') r.protocol = base.protocol;
          out.push(r);
        }
      }
    }
  } else if (sprof) {
    for (const s of profilePorts(sprof)) {
      const r: Rule = { ...template };
      withPortSpec(r, s, 'src');
      out.push(r);
    }
  } else if (dprof) {
    for (const d of profilePorts(dprof)) {
      const r: Rule = { ...template };
      withPortSpec(r, d, 'dst');
      out.push(r);
    }
  }
  if (out.length < 1) throw new UfwError(M.noAppRules);
  return out;
}

export function appListText(set: ProfileSet): string {
  const names = [...set.profiles.keys()].sort();
  return [M.availableApps, ...names.map((n) => `  ${n}`)].join('\n');
}

/** ufw's word_wrap(): break at spaces so no line reaches `width`, keeping existing newlines. */
export function wrapText(text: string, width = 75): string {
  const words = text.split(' ');
  let line = words[0]!;
  for (const word of words.slice(1)) {
    const curLen = line.length - line.lastIndexOf('\n') - 1;
    const firstPart = word.split('\n', 1)[0]!.length;
    line += (curLen + firstPart >= width ? '\n' : ' ') + word;
  }
  return line;
}

export function appInfoText(set: ProfileSet, pname: string): string {
  let names: string[];
  if (pname === 'all') names = [...set.profiles.keys()].sort();
  else {
    if (!validProfileName(pname)) throw new UfwError(M.invalidProfileName);
    names = [pname];
  }
  let out = '';
  names.forEach((name, i) => {
    const p = set.profiles.get(name);
    if (!p) throw new UfwError(M.couldNotFindProfile(name));
    verifyProfile(name, p);
    out += `Profile: ${name}\nTitle: ${p.title}\nDescription: ${p.description}\n\n`;
    const ports = profilePorts(p);
    out += ports.length > 1 || ports[0]!.includes(',') ? 'Ports:' : 'Port:';
    for (const port of ports) out += `\n  ${port}`;
    if (i !== names.length - 1) out += '\n\n--\n\n';
  });
  return wrapText(out);
}
