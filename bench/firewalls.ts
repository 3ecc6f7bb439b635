/**
 * The firewalls compared in the throughput and connection-rate sections. Each one loads the same
 * N rules (see rules.ts) into the server namespace of a fresh pair and checks that they are
 * really there before anything is measured (a ruleset that silently failed to load would make a
 * linear firewall look fast).
 */
import { existsSync } from 'node:fs';
import { sh, trySh } from './sh.js';
import type { Pair } from './topo.js';
import { iptablesRestore, nftRuleset, ufwUserRules } from './rules.js';
import { ufwLoadMany } from './ufw.js';
import { difwSetupRules, difwUnavailable } from './difw.js';
import { XdpFilter } from './xdpfilter.js';

export type FirewallId = 'none' | 'xdp-filter' | 'difw' | 'iptables' | 'nftables' | 'ufw';

export interface Firewall {
  id: FirewallId;
  /** Short tag for namespace/veth names. */
  tag: string;
  /** null if the tool can be used, else why not. */
  unavailable(): string | null;
  /** Install N rules in p.srv. Throws on failure. */
  apply(p: Pair, rules: number): Promise<void>;
}

function has(cmd: string): boolean {
  return ['/usr/sbin/', '/usr/bin/', '/sbin/', '/bin/'].some((d) => existsSync(d + cmd));
}

function countLines(out: string, re: RegExp): number {
  return out.split('\n').filter((l) => re.test(l)).length;
}

function expectCount(what: string, got: number, want: number): void {
  if (got !== want) throw new Error(`${what}: ${got} rules loaded, expected ${want}`);
}

export const FIREWALLS: Firewall[] = [
  {
    id: 'none',
    tag: 'none',
    unavailable: () => null,
    apply: async () => {},
  },
  {
    // The floor for "any XDP program on this veth": xdp-filter with N-1 source addresses in its
    // hash map and its default allow policy (5201 passes because nothing denies it).
    id: 'xdp-filter',
    tag: 'xdpf',
    unavailable: () => (has('xdp-filter') && has('bpftool') ? null : 'xdp-filter or bpftool not installed'),
    apply: async (p, rules) => {
      new XdpFilter(p).setAddresses(rules - 1);
    },
  },
  {
    id: 'difw',
    tag: 'difw',
    unavailable: () => difwUnavailable(),
    apply: async (p, rules) => {
      difwSetupRules(p, rules);
    },
  },
  {
    id: 'iptables',
    tag: 'ipt',
    unavailable: () => (has('iptables-restore') ? null : 'iptables-restore not installed'),
    apply: async (p, rules) => {
      sh('load the iptables ruleset', 'ip', ['netns', 'exec', p.srv, 'iptables-restore'], { input: iptablesRestore(rules) });
      const out = sh('list iptables rules', 'ip', ['netns', 'exec', p.srv, 'iptables', '-S', 'INPUT']);
      expectCount('iptables', countLines(out, /^-A INPUT -s 198\.19\./), rules - 1);
    },
  },
  {
    id: 'nftables',
    tag: 'nft',
    unavailable: () => (has('nft') ? null : 'nft not installed'),
    apply: async (p, rules) => {
      sh('load the nftables ruleset', 'ip', ['netns', 'exec', p.srv, 'nft', '-f', '-'], { input: nftRuleset(rules) });
      const out = sh('list nftables rules', 'ip', ['netns', 'exec', p.srv, 'nft', 'list', 'chain', 'inet', 'bnbench', 'input']);
      expectCount('nftables', countLines(out, /ip saddr 198\.19\.\S+ drop/), rules - 1);
    },
  },
  {
    id: 'ufw',
    tag: 'ufw',
    unavailable: () => (has('ufw') && has('flock') ? null : 'ufw or flock not installed'),
    apply: async (p, rules) => {
      await ufwPrepare([{ p, rules }]);
    },
  },
];

/**
 * ufw for several (pair, rule count) at once, under one lock acquisition; checks that each
 * namespace really holds the N-1 deny rules afterwards.
 */
export async function ufwPrepare(items: Array<{ p: Pair; rules: number }>): Promise<{ lockWaitMs: number }> {
  const r = await ufwLoadMany(items.map(({ p, rules }) => ({ ns: p.srv, userRules: ufwUserRules(rules, false), user6Rules: ufwUserRules(rules, true) })));
  for (const { p, rules } of items) {
    const out = trySh('ip', ['netns', 'exec', p.srv, 'iptables', '-S', 'ufw-user-input']).out;
    expectCount('ufw', countLines(out, /^-A ufw-user-input -s 198\.19\./), rules - 1);
  }
  return r;
}
