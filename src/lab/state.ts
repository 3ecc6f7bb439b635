/**
 * The lab state file (<lab dir>/lab.json): what the lab built, so that status, exec, apply and
 * down find it again and teardown knows what to remove. Written atomically under the lab lock.
 * `phase` is "building" until `lab up` has finished; a lab left in "building" (a crashed up) is
 * torn down by the next `lab up` or `lab down`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../state/atomic.js';
import { DifwError } from '../errors.js';
import type { LabConfig } from './config.js';

export interface LabNode {
  name: string;
  /** Small integer, stable for the lab's life: node id in claims, fabric address. */
  id: number;
  netns: string;
  fabricIp: string;
  fabricPrefix: number;
  fabricIf: string;
  dir: string;
  bpffs: string;
  socket: string;
  log: string;
  cgroup: string;
  agentPid?: number;
}

export interface LabPod {
  namespace: string;
  name: string;
  node: string;
  ip: string;
  netns: string;
  cgroup: string;
  hostIf: string;
}

export interface LabState {
  version: 1;
  name: string;
  prefix: string;
  phase: 'building' | 'up';
  fabric: { netns: string; bridge: string };
  nodes: LabNode[];
  pods: LabPod[];
  /** Cluster secret (hex) the pairwise claim keys are derived from. Root-only file. */
  secret: string;
  /** Epoch every node stamps with (8-bit, wraps). */
  keyEpoch: number;
  /** During a rotation: the next epoch, whose keys are installed before anyone sends with it. */
  nextEpoch?: number;
}

export const labFile = (cfg: LabConfig) => join(cfg.dir, 'lab.json');
export const lockFile = (cfg: LabConfig) => join(cfg.dir, 'lock');

export function readLab(cfg: LabConfig): LabState | null {
  const f = labFile(cfg);
  if (!existsSync(f)) return null;
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as LabState;
  } catch (e) {
    throw new DifwError('DIFW_E_STATE', `Cannot read the lab state ${f}: ${(e as Error).message}`, { cause: e });
  }
}

export function requireLab(cfg: LabConfig): LabState {
  const s = readLab(cfg);
  if (!s || s.phase !== 'up') throw new DifwError('DIFW_E_LAB', 'Cannot find a running lab: run "difw lab up -f LAB.yaml" first');
  return s;
}

export function writeLab(cfg: LabConfig, s: LabState): void {
  writeFileAtomic(labFile(cfg), JSON.stringify(s, null, 1));
}

export function findPod(s: LabState, ns: string, name: string): LabPod | undefined {
  return s.pods.find((p) => p.namespace === ns && p.name === name);
}
