/**
 * The benchmark topology: two network namespaces joined by one veth pair.
 *
 *   bn-c-<tag> (client, sender)  bnc-<tag> 198.18.<k>.1/24  <==veth==>  bns-<tag> 198.18.<k>.2/24  bn-s-<tag> (server)
 *
 * The firewall under test always runs in the server namespace (difw attaches to bns-<tag>; the
 * iptables/nftables/ufw rulesets live in that namespace's INPUT hook). Neighbour entries are
 * static so no ARP exchange can race a measurement. Every namespace name starts with "bn-" and
 * every veth with "bnc-"/"bns-" (this harness's prefix); `removeStale` deletes leftovers of a
 * previous run that was killed before it could clean up.
 */
import { readFileSync } from 'node:fs';
import { sh, trySh, defer, inNs } from './sh.js';

export interface Pair {
  tag: string;
  cli: string;
  srv: string;
  cliIf: string;
  srvIf: string;
  cliAddr: string;
  srvAddr: string;
  srvMac: string;
  cliMac: string;
  srvIfindex: number;
  /** Register a teardown step that runs (newest first) before the namespaces are deleted. */
  onDestroy(what: string, fn: () => void): void;
  /** Runs the onDestroy steps, kills what runs inside, deletes both namespaces (idempotent). */
  destroy(): Promise<void>;
}

export const NS_PREFIX = 'bn-';

export function removeStale(): string[] {
  const names = trySh('ip', ['netns', 'list'])
    .out.split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(NS_PREFIX));
  for (const n of names) killNsProcesses(n);
  for (const n of names) trySh('ip', ['netns', 'del', n]);
  return names;
}

/** Processes inside a namespace this harness created are its own (agents, tools): kill by pid. */
export function killNsProcesses(ns: string): void {
  const pids = trySh('ip', ['netns', 'pids', ns])
    .out.split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 1 && n !== process.pid);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

function linkInfo(ns: string, dev: string): { ifindex: number; address: string } {
  const j = JSON.parse(sh(`read ${dev}`, 'ip', ['-n', ns, '-j', 'link', 'show', 'dev', dev])) as Array<{ ifindex: number; address: string }>;
  return { ifindex: j[0]!.ifindex, address: j[0]!.address };
}

export function createPair(tag: string, k: number): Pair {
  if (tag.length > 10) throw new Error(`pair tag too long: ${tag}`);
  const cli = `${NS_PREFIX}c-${tag}`;
  const srv = `${NS_PREFIX}s-${tag}`;
  const cliIf = `bnc-${tag}`;
  const srvIf = `bns-${tag}`;
  const cliAddr = `198.18.${k}.1`;
  const srvAddr = `198.18.${k}.2`;
  let alive = true;
  const hooks: Array<{ what: string; fn: () => void }> = [];
  const destroyNow = defer(`delete netns ${cli} ${srv}`, () => {
    if (!alive) return;
    alive = false;
    for (const h of hooks.reverse()) {
      try {
        h.fn();
      } catch (e) {
        process.stderr.write(`bench: teardown "${h.what}" failed: ${(e as Error).message}\n`);
      }
    }
    for (const ns of [cli, srv]) killNsProcesses(ns);
    for (const ns of [cli, srv]) trySh('ip', ['netns', 'del', ns]);
  });
  sh('create netns', 'ip', ['netns', 'add', cli]);
  sh('create netns', 'ip', ['netns', 'add', srv]);
  sh('create veth', 'ip', ['-n', cli, 'link', 'add', cliIf, 'type', 'veth', 'peer', 'name', srvIf, 'netns', srv]);
  sh('configure client', 'ip', ['-n', cli, '-batch', '-'], {
    input: [`link set lo up`, `addr add ${cliAddr}/24 dev ${cliIf}`, `link set ${cliIf} up`].join('\n') + '\n',
  });
  sh('configure server', 'ip', ['-n', srv, '-batch', '-'], {
    input: [`link set lo up`, `addr add ${srvAddr}/24 dev ${srvIf}`, `link set ${srvIf} up`].join('\n') + '\n',
  });
  const c = linkInfo(cli, cliIf);
  const s = linkInfo(srv, srvIf);
  sh('set neighbour', 'ip', ['-n', cli, 'neigh', 'replace', srvAddr, 'lladdr', s.address, 'dev', cliIf, 'nud', 'permanent']);
  sh('set neighbour', 'ip', ['-n', srv, 'neigh', 'replace', cliAddr, 'lladdr', c.address, 'dev', srvIf, 'nud', 'permanent']);
  // Wide ephemeral range for the connect loop; deep accept queue for the listener.
  const [c1, c2] = inNs(cli, 'sh', ['-c', 'echo "1024 65535" > /proc/sys/net/ipv4/ip_local_port_range']);
  sh('set sysctl', c1, c2);
  const [s1, s2] = inNs(srv, 'sh', [
    '-c',
    'echo 8192 > /proc/sys/net/core/somaxconn; echo 8192 > /proc/sys/net/ipv4/tcp_max_syn_backlog',
  ]);
  sh('set sysctl', s1, s2);
  return {
    tag,
    cli,
    srv,
    cliIf,
    srvIf,
    cliAddr,
    srvAddr,
    srvMac: s.address,
    cliMac: c.address,
    srvIfindex: s.ifindex,
    onDestroy: (what, fn) => void hooks.push({ what, fn }),
    destroy: destroyNow,
  };
}

/** Inode of a named netns (difw names its per-namespace dirs "ns-<inode>"). */
export function netnsInode(ns: string): number {
  const out = sh('stat netns', 'stat', ['-L', '-c', '%i', `/run/netns/${ns}`]).trim();
  return Number(out);
}

export function kernelRelease(): string {
  try {
    return readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}
