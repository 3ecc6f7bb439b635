/**
 * Address validation and normalisation with ufw's rules: which strings ufw accepts as IPv4/IPv6
 * addresses or networks, and the canonical text it stores (host netmasks dropped, IPv4 netmasks
 * as CIDR when contiguous, IPv4 networks reduced to their network address, IPv6 addresses in the
 * glibc inet_ntop form). IPv6 networks keep their host bits, as ufw does.
 */

/** Strict dotted quad like glibc inet_pton(AF_INET): 4 decimal octets, no leading zeros. */
function parseV4(s: string): number[] | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p) || (p.length > 1 && p[0] === '0')) return null;
    const n = Number(p);
    if (n > 255) return null;
    out.push(n);
  }
  return out;
}

/** Parse an IPv6 address like glibc inet_pton(AF_INET6) into 8 16-bit words. */
function parseV6(s: string): number[] | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return null;
  let tail: number[] = [];
  let str = s;
  if (str.includes('.')) {
    const idx = str.lastIndexOf(':');
    if (idx < 0) return null;
    const v4 = parseV4(str.slice(idx + 1));
    if (!v4) return null;
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    str = str.slice(0, idx + 1);
    // "::1.2.3.4" leaves "::", "a:b::1.2.3.4" leaves "a:b::", "a:b:c:d:e:f:1.2.3.4" leaves "...f:"
    if (str.endsWith(':') && !str.endsWith('::')) str = str.slice(0, -1);
  }
  const dbl = str.indexOf('::');
  if (dbl !== str.lastIndexOf('::')) return null;
  const group = (g: string): number | null => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : null);
  const side = (t: string): number[] | null => {
    if (t === '') return [];
    const out: number[] = [];
    for (const g of t.split(':')) {
      const v = group(g);
      if (v === null) return null;
      out.push(v);
    }
    return out;
  };
  const want = 8 - tail.length;
  let words: number[];
  if (dbl >= 0) {
    const head = side(str.slice(0, dbl));
    const rest = side(str.slice(dbl + 2));
    if (!head || !rest) return null;
    const fill = want - head.length - rest.length;
    if (fill < 1) return null;
    words = [...head, ...new Array<number>(fill).fill(0), ...rest];
  } else {
    const all = side(str);
    if (!all || all.length !== want) return null;
    words = all;
  }
  return [...words, ...tail];
}

/** glibc inet_ntop(AF_INET6): longest run (>= 2) of zero words compressed, IPv4 tail for ::a.b.c.d and ::ffff:a.b.c.d. */
function formatV6(w: number[]): string {
  let bestBase = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestBase = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestBase = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      out += `${w[6]! >> 8}.${w[6]! & 0xff}.${w[7]! >> 8}.${w[7]! & 0xff}`;
      return out;
    }
    out += w[i]!.toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) out += ':';
  return out;
}

const validCidr = (nm: string, v6: boolean) => /^[0-9]+$/.test(nm) && Number(nm) <= (v6 ? 128 : 32);

/** ufw's dotted-quad check (looser than inet_pton: leading zeros allowed). */
function validDottedQuads(nm: string): boolean {
  if (!/^[0-9]+\.[0-9.]+$/.test(nm)) return false;
  const q = nm.split('.');
  return q.length === 4 && q.every((x) => x !== '' && Number(x) <= 255);
}

export function validAddress4(addr: string): boolean {
  if (addr.length > 31 || !/^[0-9./]+$/.test(addr)) return false;
  const net = addr.split('/');
  if (!parseV4(net[0]!)) return false;
  if (net.length > 2) return false;
  if (net.length === 2) return validCidr(net[1]!, false) || validDottedQuads(net[1]!);
  return true;
}

export function validAddress6(addr: string): boolean {
  if (addr.length > 43 || !/^[a-fA-F0-9:./]+$/.test(addr)) return false;
  const net = addr.split('/');
  if (!parseV6(net[0]!)) return false;
  if (net.length > 2) return false;
  if (net.length === 2) return validCidr(net[1]!, true);
  return true;
}

export function validAddress(addr: string, version: '4' | '6' | 'any' = 'any'): boolean {
  if (version === '4') return validAddress4(addr);
  if (version === '6') return validAddress6(addr);
  return validAddress4(addr) || validAddress6(addr);
}

const v4ToInt = (q: number[]) => ((q[0]! << 24) | (q[1]! << 16) | (q[2]! << 8) | q[3]!) >>> 0;
const intToV4 = (n: number) => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
const dottedToInt = (s: string) => v4ToInt(s.split('.').map(Number));

/** Contiguous dotted netmask -> CIDR string, or null when the mask has holes. */
function dottedToCidr(nm: string): string | null {
  const bits = dottedToInt(nm);
  let zeros = 0;
  while (zeros < 32 && ((bits >>> zeros) & 1) === 0) zeros++;
  for (let i = zeros; i < 32; i++) if (((bits >>> i) & 1) === 0) return null;
  return String(32 - zeros);
}

const cidrToInt = (c: number) => (c === 0 ? 0 : (0xffffffff << (32 - c)) >>> 0);

export interface Normalized {
  addr: string;
  changed: boolean;
}

/**
 * ufw's normalize_address(): canonical host part, host netmask removed, IPv4 dotted netmask
 * turned into CIDR when contiguous, IPv4 network address computed. Throws on invalid input.
 */
export function normalizeAddress(orig: string, v6: boolean): Normalized {
  let net: string[] = orig.includes('/') ? orig.split('/') : [orig];
  if (net.length > 1) {
    if (v6 && net[1] === '128') net = [net[0]!];
    else if (!v6 && (net[1] === '32' || net[1] === '255.255.255.255')) net = [net[0]!];
  }
  if (!v6 && net.length === 2 && validDottedQuads(net[1]!)) {
    const c = dottedToCidr(net[1]!);
    if (c !== null) net[1] = c;
  }
  let changed = false;
  let addr: string;
  if (v6) {
    const w = parseV6(net[0]!);
    if (!w) throw new Error(`invalid address '${orig}'`);
    addr = formatV6(w);
  } else {
    const q = parseV4(net[0]!);
    if (!q) throw new Error(`invalid address '${orig}'`);
    addr = q.join('.');
  }
  if (addr !== net[0]) changed = true;
  if (net.length === 2) {
    const nm = net[1]!;
    if (!v6) {
      const maskInt = validCidr(nm, false) ? cidrToInt(Number(nm)) : validDottedQuads(nm) ? dottedToInt(nm) : NaN;
      if (Number.isNaN(maskInt)) throw new Error(`invalid netmask '${nm}'`);
      const network = `${intToV4((v4ToInt(parseV4(addr)!) & maskInt) >>> 0)}/${nm}`;
      if (network !== `${addr}/${nm}`) changed = true;
      addr = network;
    } else {
      addr += `/${nm}`;
    }
  }
  if (!validAddress(addr, v6 ? '6' : '4')) throw new Error(`invalid address '${addr}'`);
  return { addr, changed };
}

export const isAnywhere = (a: string) => a === '0.0.0.0/0' || a === '::/0';
