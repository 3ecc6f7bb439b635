/**
 * Where a lab lives and how its kernel objects are named.
 *
 * One lab per prefix: the default prefix `dl` gives netns `dl-*`, bridge `dlbr0`, state in
 * /run/difw/lab and cgroups under `<cgroup2 root>/difw-lab`. Tests set DIFW_LAB_PREFIX (e.g. `dt`)
 * so a test lab never collides with a lab someone else has up; the state dir and cgroup subtree
 * then carry the prefix too. Every name the lab creates starts with the prefix, and teardown only
 * ever removes names with that prefix, so the machine's own interfaces are never touched.
 */
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { RUN_ROOT, cgroup2Root } from '../state/paths.js';
import { DifwError } from '../errors.js';

export interface LabConfig {
  prefix: string;
  /** Lab state: lab.json, store.json, lock, per-node dirs (bpffs mount, agent socket, log). */
  dir: string;
  /** cgroup v2 directory holding every node's pod-parent cgroup. */
  cgroupBase: string;
  fabricNetns: string;
  bridge: string;
  /** Fabric subnet: node i (0-based) gets <fabricNet>.(10+i)/24. */
  fabricNet: string;
  fabricPrefix: number;
}

export function labConfig(prefix = process.env.DIFW_LAB_PREFIX ?? 'dl'): LabConfig {
  if (!/^[a-z][a-z0-9]{1,3}$/.test(prefix)) {
    throw new DifwError('DIFW_E_USAGE', `Cannot use lab prefix "${prefix}": 2-4 lowercase letters/digits`);
  }
  const dflt = prefix === 'dl';
  const dir = process.env.DIFW_LAB_DIR ?? join(RUN_ROOT, dflt ? 'lab' : `lab-${prefix}`);
  let cg: string;
  try {
    cg = cgroup2Root();
  } catch {
    cg = '/sys/fs/cgroup';
  }
  return {
    prefix,
    dir,
    cgroupBase: join(cg, dflt ? 'difw-lab' : `difw-lab-${prefix}`),
    fabricNetns: `${prefix}-fab`,
    bridge: `${prefix}br0`,
    // The default lab uses 198.18.200.0/24; other prefixes get their own /24 so two labs can
    // coexist (they never share a bridge anyway, this only keeps addresses unambiguous in logs).
    fabricNet: dflt ? '198.18.200' : `198.18.${201 + (parseInt(hash(prefix).slice(0, 2), 16) % 50)}`,
    fabricPrefix: 24,
  };
}

export function hash(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

const NAME_RE = /^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/;

/** Object names become netns names and cgroup dirs: only DNS-label-like names are accepted. */
export function checkName(what: string, name: string): void {
  if (!NAME_RE.test(name)) throw new DifwError('DIFW_E_LAB', `Cannot use ${what} name "${name}": not a DNS label`);
}

export function nodeDir(cfg: LabConfig, node: string): string {
  return join(cfg.dir, 'nodes', node);
}

export function nodeNetns(cfg: LabConfig, node: string): string {
  return `${cfg.prefix}-${node}`;
}

export function podNetns(cfg: LabConfig, ns: string, pod: string): string {
  return `${cfg.prefix}-${ns}-${pod}`;
}

/** Node-side veth of a pod: <prefix>p + 8 hex of the pod key (fits IFNAMSIZ 15). */
export function podHostIf(cfg: LabConfig, ns: string, pod: string): string {
  return `${cfg.prefix}p${hash(`${ns}/${pod}`).slice(0, 8)}`;
}

/** Fabric-side veth of a node (in the fabric netns, enslaved to the bridge). */
export function nodeFabricIf(cfg: LabConfig, node: string): string {
  return `${cfg.prefix}f${hash(node).slice(0, 8)}`;
}

export function nodeCgroup(cfg: LabConfig, node: string): string {
  return join(cfg.cgroupBase, node);
}

export function podCgroup(cfg: LabConfig, node: string, ns: string, pod: string): string {
  return join(cfg.cgroupBase, node, ns, pod);
}
