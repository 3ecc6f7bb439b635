/**
 * Service-name lookups against /etc/services, standing in for getservbyname(3) the way ufw
 * uses it: a name (or alias) resolves to its port, and a name's protocol is 'tcp', 'udp' or
 * 'any' (listed for both). Names are case-sensitive, as in glibc's files backend. Only the
 * files source is consulted (no NSS modules), which is what ufw sees on a stock system.
 */
import { readFileSync } from 'node:fs';

interface ServiceEntry {
  port: number;
  protos: Set<string>;
}

let table: Map<string, ServiceEntry> | null = null;
/** The first port listed for a name regardless of protocol (getservbyname(name, NULL)). */
let firstPort: Map<string, number> | null = null;
/** Port per (name, proto): the first entry for that protocol. */
let perProto: Map<string, number> | null = null;

export const SERVICES_FILE = process.env.DIFW_SERVICES_FILE ?? '/etc/services';

function load(): void {
  if (table) return;
  table = new Map();
  firstPort = new Map();
  perProto = new Map();
  let text = '';
  try {
    text = readFileSync(SERVICES_FILE, 'utf8');
  } catch {
    return; // no services database: every name lookup fails, as getservbyname would
  }
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const f = line.split(/\s+/);
    const m = /^(\d+)\/(\w+)$/.exec(f[1] ?? '');
    if (!m) continue;
    const port = Number(m[1]);
    const proto = m[2]!;
    for (const name of [f[0]!, ...f.slice(2)]) {
      if (!firstPort.has(name)) firstPort.set(name, port);
      const key = `${name}/${proto}`;
      if (!perProto.has(key)) perProto.set(key, port);
      const e = table.get(name) ?? { port, protos: new Set<string>() };
      e.protos.add(proto);
      table.set(name, e);
    }
  }
}

/** Port for a service name (any protocol), or null when unknown. */
export function servicePort(name: string, proto?: 'tcp' | 'udp'): number | null {
  load();
  if (proto) return perProto!.get(`${name}/${proto}`) ?? null;
  return firstPort!.get(name) ?? null;
}

/** ufw's get_services_proto(): 'tcp', 'udp', 'any' (both) or '' (other protocols only); null when unknown. */
export function serviceProto(name: string): string | null {
  load();
  if (servicePort(name) === null) return null;
  const tcp = servicePort(name, 'tcp') !== null;
  const udp = servicePort(name, 'udp') !== null;
  if (tcp && udp) return 'any';
  if (tcp) return 'tcp';
  if (udp) return 'udp';
  return '';
}
