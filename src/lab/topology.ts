/**
 * Building and removing the lab's kernel objects.
 *
 *   fabric  netns <p>-fab, bridge <p>br0; one veth per node (<p>f<hash> on the bridge).
 *   node    netns <p>-<node>; `fab0` with <fabricNet>.(10+id)/24; forwarding on; a bpffs mounted at
 *           <lab>/nodes/<node>/bpffs; cgroup <base>/<node> (the pod-parent cgroup).
 *   pod     netns <p>-<ns>-<pod>; `eth0` with <ip>/32 and `default dev eth0`; node side <p>p<hash>
 *           with proxy ARP (no delay) and a /32 route; every other node routes <ip>/32 via the
 *           hosting node's fabric address; cgroup <base>/<node>/<ns>/<pod>.
 *
 * Every object is created directly inside a namespace the lab owns (`ip -n`), never in the
 * namespace difw runs in. Only IPv4 pod addresses are supported (the lab's routing uses proxy
 * ARP; proxy NDP for IPv6 is not implemented).
 */
import { existsSync, mkdirSync, readdirSync, rmdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isIPv4 } from 'node:net';
import { DifwError } from '../errors.js';
import {
  type LabConfig,
  nodeDir,
  nodeNetns,
  podNetns,
  podHostIf,
  nodeFabricIf,
  nodeCgroup,
  podCgroup,
  checkName,
} from './config.js';
import type { LabNode, LabPod, LabState } from './state.js';
import { ipBatch, run, sysctls, tryRun, netnsList, netnsPids } from './sh.js';

const FORWARDING: Array<[string, string]> = [
  ['net.ipv4.ip_forward', '1'],
  ['net.ipv4.conf.all.rp_filter', '0'],
  ['net.ipv4.conf.default.rp_filter', '0'],
];

export function buildFabric(cfg: LabConfig): void {
  run('create the fabric netns', 'ip', ['netns', 'add', cfg.fabricNetns]);
  ipBatch('create the fabric bridge', cfg.fabricNetns, [
    'link set lo up',
    `link add ${cfg.bridge} type bridge`,
    `link set ${cfg.bridge} up`,
  ]);
}

export function buildNode(cfg: LabConfig, name: string, id: number): LabNode {
  checkName('node', name);
  const dir = nodeDir(cfg, name);
  const node: LabNode = {
    name,
    id,
    netns: nodeNetns(cfg, name),
    fabricIp: `${cfg.fabricNet}.${10 + id}`,
    fabricPrefix: cfg.fabricPrefix,
    fabricIf: nodeFabricIf(cfg, name),
    dir,
    bpffs: join(dir, 'bpffs'),
    socket: join(dir, 'agent.sock'),
    log: join(dir, 'agent.log'),
    cgroup: nodeCgroup(cfg, name),
  };
  run(`create the netns of node ${name}`, 'ip', ['netns', 'add', node.netns]);
  ipBatch(`wire node ${name} to the fabric`, node.netns, [
    'link set lo up',
    `link add fab0 type veth peer name ${node.fabricIf} netns ${cfg.fabricNetns}`,
    `addr add ${node.fabricIp}/${node.fabricPrefix} dev fab0`,
    'link set fab0 up',
  ]);
  ipBatch(`attach node ${name} to the bridge`, cfg.fabricNetns, [
    `link set ${node.fabricIf} master ${cfg.bridge}`,
    `link set ${node.fabricIf} up`,
  ]);
  sysctls(`enable forwarding on node ${name}`, node.netns, FORWARDING);
  mkdirSync(node.bpffs, { recursive: true, mode: 0o700 });
  run(`mount a bpffs for node ${name}`, 'mount', ['-t', 'bpf', 'bpf', node.bpffs]);
  mkdirSync(node.cgroup, { recursive: true });
  return node;
}

export interface PodSpec {
  namespace: string;
  name: string;
  node: string;
  ip: string;
}

export function checkPodSpec(lab: LabState, spec: PodSpec): void {
  checkName('namespace', spec.namespace);
  checkName('pod', spec.name);
  if (!isIPv4(spec.ip)) throw new DifwError('DIFW_E_LAB', `Cannot place pod ${spec.namespace}/${spec.name}: status.podIP "${spec.ip}" is not an IPv4 address`);
  if (!lab.nodes.some((n) => n.name === spec.node)) {
    throw new DifwError('DIFW_E_LAB', `Cannot place pod ${spec.namespace}/${spec.name}: no lab node "${spec.node}" (annotation difw.io/node)`);
  }
  const clash = lab.pods.find((p) => p.ip === spec.ip && !(p.namespace === spec.namespace && p.name === spec.name));
  if (clash) throw new DifwError('DIFW_E_LAB', `Cannot place pod ${spec.namespace}/${spec.name}: ${spec.ip} is already used by ${clash.namespace}/${clash.name}`);
  if (lab.nodes.some((n) => n.fabricIp === spec.ip)) throw new DifwError('DIFW_E_LAB', `Cannot place pod ${spec.namespace}/${spec.name}: ${spec.ip} is a fabric address`);
}

/** Create the pod sandbox and the routes to it on every node. Does not record it in `lab`. */
export function buildPod(cfg: LabConfig, lab: LabState, spec: PodSpec): LabPod {
  checkPodSpec(lab, spec);
  const host = lab.nodes.find((n) => n.name === spec.node)!;
  const pod: LabPod = {
    ...spec,
    netns: podNetns(cfg, spec.namespace, spec.name),
    cgroup: podCgroup(cfg, spec.node, spec.namespace, spec.name),
    hostIf: podHostIf(cfg, spec.namespace, spec.name),
  };
  const what = `create pod ${spec.namespace}/${spec.name}`;
  try {
    run(what, 'ip', ['netns', 'add', pod.netns]);
    ipBatch(what, host.netns, [`link add ${pod.hostIf} type veth peer name eth0 netns ${pod.netns}`]);
    sysctls(what, host.netns, [
      [`net.ipv4.conf.${pod.hostIf}.proxy_arp`, '1'],
      [`net.ipv4.conf.${pod.hostIf}.rp_filter`, '0'],
      [`net.ipv4.neigh.${pod.hostIf}.proxy_delay`, '0'],
    ]);
    ipBatch(what, host.netns, [`link set ${pod.hostIf} up`, `route replace ${pod.ip}/32 dev ${pod.hostIf}`]);
    ipBatch(what, pod.netns, [
      'link set lo up',
      `addr add ${pod.ip}/32 dev eth0`,
      'link set eth0 up',
      'route add default dev eth0',
    ]);
    for (const n of lab.nodes) {
      if (n.name !== host.name) ipBatch(what, n.netns, [`route replace ${pod.ip}/32 via ${host.fabricIp} dev fab0`]);
    }
    mkdirSync(pod.cgroup, { recursive: true });
  } catch (e) {
    removePod(lab, pod);
    throw e;
  }
  return pod;
}

/** Kill every process of a cgroup v2 directory tree (cgroup.kill) and remove the directories. */
export function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  try {
    writeFileSync(join(dir, 'cgroup.kill'), '1');
  } catch {
    /* older kernels: fall back to rmdir, which fails while processes remain */
  }
  const rm = (d: string) => {
    let subs: string[] = [];
    try {
      subs = readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return;
    }
    for (const s of subs) rm(join(d, s));
    for (let i = 0; i < 50; i++) {
      try {
        rmdirSync(d);
        return;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return;
        if (code !== 'EBUSY') return;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20); // killed tasks take a moment to exit
      }
    }
  };
  rm(dir);
}

function killNetnsProcesses(netns: string): void {
  for (const pid of netnsPids(netns)) {
    if (pid === process.pid) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/** Remove a pod sandbox and its routes. Best effort: every step is attempted. */
export function removePod(lab: LabState, pod: LabPod): void {
  removeCgroupTree(pod.cgroup);
  killNetnsProcesses(pod.netns);
  const host = lab.nodes.find((n) => n.name === pod.node);
  if (host) tryRun('ip', ['-n', host.netns, 'link', 'del', pod.hostIf]);
  tryRun('ip', ['netns', 'del', pod.netns]);
  for (const n of lab.nodes) {
    tryRun('ip', ['-n', n.netns, 'route', 'del', `${pod.ip}/32`]);
  }
}

function isMounted(path: string): boolean {
  try {
    return readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .some((l) => l.split(' ')[1] === path);
  } catch {
    return false;
  }
}

/** Alive and not a zombie (an exited agent whose parent, e.g. pid 1, has not reaped it yet). */
export function pidRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Stop an agent by the pid recorded for it: TERM, then KILL after a grace period. */
export async function stopPid(pid: number | undefined, graceMs = 2000, cmdlineMustContain = 'lab-agent'): Promise<void> {
  if (!pid || pid === process.pid || !pidRunning(pid)) return;
  try {
    // a recorded pid may have been reused by an unrelated process since: check it is ours
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(cmdlineMustContain)) return;
  } catch {
    return;
  }
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!pidRunning(pid)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

/**
 * Remove everything a lab with this prefix may have made: with the state file when there is one,
 * and by name otherwise (a crashed `lab up` may have left objects the state file never recorded).
 * Idempotent; never throws for a missing object.
 */
export async function teardown(cfg: LabConfig, lab: LabState | null): Promise<string[]> {
  const problems: string[] = [];
  // 1. agents, by recorded pid (then anything left inside the lab's netns).
  await Promise.all((lab?.nodes ?? []).map((n) => stopPid(n.agentPid)));
  for (const n of lab?.nodes ?? []) {
    const pidFile = join(n.dir, 'agent.pid');
    if (existsSync(pidFile)) await stopPid(Number(readFileSync(pidFile, 'utf8')));
  }
  // 2. pod processes: kill the whole cgroup subtree, then remove it.
  removeCgroupTree(cfg.cgroupBase);
  if (existsSync(cfg.cgroupBase)) problems.push(`cgroup ${cfg.cgroupBase} still exists`);
  // 3. namespaces named with the prefix (pods, nodes, fabric): deleting a netns removes its veths.
  for (const ns of netnsList().filter((n) => n.startsWith(`${cfg.prefix}-`))) {
    killNetnsProcesses(ns);
    const r = tryRun('ip', ['netns', 'del', ns]);
    if (!r.ok) problems.push(`netns ${ns}: ${r.err.trim()}`);
  }
  // 4. per-node bpffs mounts (pins go with them) and the node dirs.
  const nodesRoot = join(cfg.dir, 'nodes');
  let nodeDirs: string[] = [];
  try {
    nodeDirs = readdirSync(nodesRoot);
  } catch {
    /* none */
  }
  for (const d of nodeDirs) {
    const mnt = join(nodesRoot, d, 'bpffs');
    for (let i = 0; i < 4 && isMounted(mnt); i++) {
      const r = tryRun('umount', [mnt]);
      if (!r.ok) tryRun('umount', ['-l', mnt]);
    }
    if (isMounted(mnt)) problems.push(`bpffs ${mnt} still mounted`);
  }
  return problems;
}
