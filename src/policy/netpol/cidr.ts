/**
 * CIDR arithmetic for ipBlock. Addresses are kept as 128-bit bigints in the IPv4-mapped IPv6
 * space (::ffff:a.b.c.d), so one LPM trie and one comparison serve both families; `len` is the
 * prefix length in that 128-bit space (an IPv4 /24 is len 120).
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface Cidr {
  /** Network address (host bits zero), 128-bit. */
  addr: bigint;
  /** Prefix length in the 128-bit space. */
  len: number;
  v4: boolean;
}

const V4_MAPPED = 0xffffn << 32n;

export function parseAddr(s: string): { addr: bigint; v4: boolean } | undefined {
  if (isIPv4(s)) {
    const p = s.split('.').map(Number);
    return { addr: V4_MAPPED | (BigInt(p[0]!) << 24n) | (BigInt(p[1]!) << 16n) | (BigInt(p[2]!) << 8n) | BigInt(p[3]!), v4: true };
  }
  if (!isIPv6(s)) return undefined;
  let str = s;
  let tail: bigint[] = [];
  const m = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (m) {
    const v = parseAddr(m[2]!)!.addr & 0xffffffffn;
    str = m[1]!.endsWith('::') ? m[1]! : m[1]!.slice(0, -1);
    tail = [v >> 16n, v & 0xffffn];
  }
  const [head, rest] = str.includes('::') ? str.split('::') as [string, string] : [str, undefined];
  const hs = head ? head.split(':').filter((x) => x !== '') : [];
  const rs = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const groups = [...hs.map((g) => BigInt('0x' + g)), ...(rest !== undefined ? Array(8 - hs.length - rs.length - tail.length).fill(0n) : []), ...rs.map((g) => BigInt('0x' + g)), ...tail];
  if (groups.length !== 8) return undefined;
  let a = 0n;
  for (const g of groups) a = (a << 16n) | g;
  return { addr: a, v4: false };
}

export function parseCidr(s: string): Cidr | undefined {
  const [ip, l, more] = s.split('/');
  if (ip === undefined || l === undefined || more !== undefined || !/^\d+$/.test(l)) return undefined;
  const a = parseAddr(ip);
  if (!a) return undefined;
  const n = Number(l);
  if (n > (a.v4 ? 32 : 128)) return undefined;
  const len = a.v4 ? 96 + n : n;
  return { addr: a.addr & mask(len), len, v4: a.v4 };
}

function mask(len: number): bigint {
  return len === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - len)) - 1n);
}

/** Whether an address of the 128-bit space is an IPv4 address (::ffff:0:0/96). */
export function isV4(addr: bigint): boolean {
  return addr >> 32n === 0xffffn;
}

/**
 * Whether `inner` (a prefix or a /128 address) lies inside `outer`. Families never mix: an IPv6
 * prefix such as ::/0 contains no IPv4 address, as in Kubernetes.
 */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return outer.v4 === inner.v4 && inner.len >= outer.len && (inner.addr & mask(outer.len)) === outer.addr;
}

export function addrInCidr(addr: bigint, c: Cidr): boolean {
  return c.v4 === isV4(addr) && (addr & mask(c.len)) === c.addr;
}

export function hostCidr(ip: string): Cidr | undefined {
  const a = parseAddr(ip);
  return a && { addr: a.addr, len: 128, v4: a.v4 };
}

export function formatCidr(c: Cidr): string {
  if (c.v4) {
    const v = Number(c.addr & 0xffffffffn);
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}/${c.len - 96}`;
  }
  const g: string[] = [];
  for (let i = 7; i >= 0; i--) g.push(((c.addr >> BigInt(16 * i)) & 0xffffn).toString(16));
  return `${g.join(':')}/${c.len}`;
}

/** 16 bytes, network order. */
export function addrBytes(addr: bigint): Buffer {
  const b = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) b[i] = Number((addr >> BigInt(8 * (15 - i))) & 0xffn);
  return b;
}

export function cidrKey(c: Cidr): string {
  return `${c.addr.toString(16)}/${c.len}`;
}
