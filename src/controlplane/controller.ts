/**
 * The control plane of a lab: the object store, the pod sandboxes that follow the Pod objects,
 * and the push of every node's tables, acknowledged per revision. It runs inside the difw command
 * that changes something (lab up, apply, delete) under the lab lock; there is no control-plane
 * daemon, the node agents are the only long-running processes.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, rmdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DifwError } from '../errors.js';
import { withLockAsync } from '../state/atomic.js';
import type { Logger } from '../log.js';
import { type LabConfig } from '../lab/config.js';
import { type LabNode, type LabPod, type LabState, readLab, writeLab, lockFile, findPod } from '../lab/state.js';
import { buildFabric, buildNode, buildPod, removePod, teardown, stopPid, checkPodSpec, pidRunning } from '../lab/topology.js';
import { netnsList } from '../lab/sh.js';
import { ObjectStore, type KubeObject } from './store.js';
import { describe, podIP, podNode } from './objects.js';
import { agentRequest, waitHealthy } from './client.js';
import { buildPushes, type NodeCompiler } from './compile.js';
import { Ack } from './protocol.js';
import { nextEpoch } from '../identity/keys.js';

export interface NodeSpec {
  name: string;
}

/** The last error messages of an agent log (pino JSON lines), for error reports. */
function logTail(file: string): string {
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n').slice(-20);
    const msgs = lines
      .map((l) => {
        try {
          const o = JSON.parse(l) as { level?: number; msg?: string; err?: { message?: string } };
          return (o.level ?? 0) >= 40 ? [o.msg, o.err?.message].filter(Boolean).join(': ') : '';
        } catch {
          return l.trim();
        }
      })
      .filter(Boolean);
    return msgs.length ? ` (agent log: ${msgs.slice(-2).join(' | ').slice(0, 600)})` : '';
  } catch {
    return '';
  }
}

export const storeFile = (cfg: LabConfig) => join(cfg.dir, 'store.json');

export interface ControllerOptions {
  cfg: LabConfig;
  log: Logger;
  compiler: NodeCompiler;
  /** Per-push timeout; an agent that does not ack in time fails the command. */
  ackTimeoutMs?: number;
}

export class Controller {
  constructor(private readonly o: ControllerOptions) {}

  get cfg(): LabConfig {
    return this.o.cfg;
  }

  private lock<T>(fn: () => Promise<T>): Promise<T> {
    mkdirSync(this.cfg.dir, { recursive: true, mode: 0o700 });
    return withLockAsync(lockFile(this.cfg), fn, 120_000);
  }

  /** Build the lab described by a Lab object plus Namespaces, Pods and policies; wait until enforced. */
  async up(objects: KubeObject[]): Promise<LabState> {
    const labs = objects.filter((o) => o.kind === 'Lab');
    if (labs.length !== 1) throw new DifwError('DIFW_E_USAGE', `Cannot start a lab: the file must hold exactly one "kind: Lab" object (found ${labs.length})`);
    const labObj = labs[0]!;
    const nodes = ((labObj.spec as { nodes?: NodeSpec[] } | undefined)?.nodes ?? []).map((n) => n.name);
    if (!nodes.length) throw new DifwError('DIFW_E_USAGE', 'Cannot start a lab: spec.nodes is empty');
    if (new Set(nodes).size !== nodes.length) throw new DifwError('DIFW_E_USAGE', 'Cannot start a lab: node names repeat');
    return this.lock(async () => {
      const prev = readLab(this.cfg);
      if (prev?.phase === 'up') throw new DifwError('DIFW_E_LAB', `Cannot start a lab: lab "${prev.name}" is already up (run "difw lab down" first)`);
      // Leftovers of a crashed or partial run are removed before building anything.
      if (prev || netnsList().some((n) => n.startsWith(`${this.cfg.prefix}-`)) || existsSync(this.cfg.cgroupBase)) {
        await this.teardownLocked(prev);
      }
      const lab: LabState = {
        version: 1,
        name: labObj.metadata.name,
        prefix: this.cfg.prefix,
        phase: 'building',
        fabric: { netns: this.cfg.fabricNetns, bridge: this.cfg.bridge },
        nodes: [],
        pods: [],
        secret: randomBytes(32).toString('hex'),
        keyEpoch: 1,
      };
      try {
        writeLab(this.cfg, lab);
        buildFabric(this.cfg);
        nodes.forEach((name, i) => {
          lab.nodes.push(buildNode(this.cfg, name, i + 1));
          writeLab(this.cfg, lab);
        });
        await Promise.all(lab.nodes.map((n) => this.startAgent(lab, n)));
        writeLab(this.cfg, lab);
        const store = ObjectStore.open(storeFile(this.cfg));
        for (const o of objects) if (o.kind !== 'Lab') this.applyOne(lab, store, this.check(lab, o));
        store.commit();
        writeLab(this.cfg, lab);
        await this.push(lab, store);
        lab.phase = 'up';
        writeLab(this.cfg, lab);
        return lab;
      } catch (e) {
        this.o.log.error({ err: e }, 'lab up failed, tearing down');
        await this.teardownLocked(lab);
        throw e;
      }
    });
  }

  async down(): Promise<string[]> {
    const problems = await this.lock(async () => this.teardownLocked(readLab(this.cfg)));
    try {
      rmdirSync(this.cfg.dir); // the state directory itself, once the lock file is gone with the lock
    } catch {
      /* not empty (a problem kept something) or already gone */
    }
    return problems;
  }

  private async teardownLocked(lab: LabState | null): Promise<string[]> {
    const problems = await teardown(this.cfg, lab);
    // keep the lock file we hold; everything else in the lab dir goes
    if (!problems.some((p) => p.startsWith('bpffs'))) {
      for (const e of existsSync(this.cfg.dir) ? readdirSync(this.cfg.dir) : []) {
        if (e !== 'lock') rmSync(join(this.cfg.dir, e), { recursive: true, force: true });
      }
    }
    return problems;
  }

  /** Apply objects to the running lab; resolves once every node acked the new revision. */
  async apply(objects: KubeObject[]): Promise<string[]> {
    return this.change(objects, true, (lab, store, o) => this.applyOne(lab, store, o));
  }

  async delete(objects: KubeObject[]): Promise<string[]> {
    return this.change(objects, false, (lab, store, o) => this.deleteOne(lab, store, o));
  }

  private async change(objects: KubeObject[], validate: boolean, fn: (lab: LabState, store: ObjectStore, o: KubeObject) => string | null): Promise<string[]> {
    if (objects.some((o) => o.kind === 'Lab')) throw new DifwError('DIFW_E_USAGE', 'Cannot apply a Lab object: use "difw lab up -f"');
    return this.lock(async () => {
      const lab = readLab(this.cfg);
      if (!lab || lab.phase !== 'up') throw new DifwError('DIFW_E_LAB', 'Cannot find a running lab: run "difw lab up -f LAB.yaml" first');
      const checked = validate ? objects.map((o) => this.check(lab, o)) : objects;
      const store = ObjectStore.open(storeFile(this.cfg));
      const lines: string[] = [];
      let failure: unknown;
      try {
        for (const o of checked) {
          const l = fn(lab, store, o);
          if (l) lines.push(l);
        }
      } catch (e) {
        failure = e;
      }
      // Sandboxes already made or removed are real: record them, and make the nodes enforce what
      // the store now holds, even when a later object failed.
      store.commit();
      writeLab(this.cfg, lab);
      await this.push(lab, store);
      if (failure) throw failure;
      return lines;
    });
  }

  /** Validate before anything changes, so a bad file changes nothing. */
  private check(lab: LabState, o: KubeObject): KubeObject {
    const v = this.o.compiler.validate(o);
    if (v.kind === 'Pod') {
      const ns = v.metadata.namespace ?? 'default';
      const node = podNode(v);
      const ip = podIP(v);
      if (!node) throw new DifwError('DIFW_E_LAB', `Cannot place pod ${ns}/${v.metadata.name}: no difw.io/node annotation`);
      if (!ip) throw new DifwError('DIFW_E_LAB', `Cannot place pod ${ns}/${v.metadata.name}: no status.podIP`);
      checkPodSpec(lab, { namespace: ns, name: v.metadata.name, node, ip });
    }
    return v;
  }

  /**
   * Rotate the claim keys without dropping connections: (1) every node installs the next epoch's
   * keys while still sending with the current one, (2) once all acked, every node switches to
   * the next epoch (the old keys stay installed as "previous" for SYNs already in flight).
   * Established connections never notice: claims are only on SYN and SYN-ACK.
   */
  async rotateKeys(): Promise<{ from: number; to: number }> {
    return this.lock(async () => {
      const lab = readLab(this.cfg);
      if (!lab || lab.phase !== 'up') throw new DifwError('DIFW_E_LAB', 'Cannot find a running lab: run "difw lab up -f LAB.yaml" first');
      const store = ObjectStore.open(storeFile(this.cfg));
      const from = lab.keyEpoch;
      const to = nextEpoch(from);
      lab.nextEpoch = to;
      store.commit();
      writeLab(this.cfg, lab);
      await this.push(lab, store);
      lab.keyEpoch = to;
      delete lab.nextEpoch;
      store.commit();
      writeLab(this.cfg, lab);
      await this.push(lab, store);
      return { from, to };
    });
  }

  /** Store one object; a Pod also gets (or keeps, or moves) its sandbox. */
  private applyOne(lab: LabState, store: ObjectStore, o: KubeObject): string {
    const prev = store.get(o.kind, o.metadata.namespace, o.metadata.name);
    if (o.kind === 'Pod') this.placePod(lab, o);
    store.put(o);
    if (!prev) return `${describe(o)} created`;
    return JSON.stringify(prev) === JSON.stringify(o) ? `${describe(o)} unchanged` : `${describe(o)} configured`;
  }

  private placePod(lab: LabState, o: KubeObject): void {
    const ns = o.metadata.namespace ?? 'default';
    const name = o.metadata.name;
    const node = podNode(o);
    const ip = podIP(o);
    if (!node) throw new DifwError('DIFW_E_LAB', `Cannot place pod ${ns}/${name}: no difw.io/node annotation`);
    if (!ip) throw new DifwError('DIFW_E_LAB', `Cannot place pod ${ns}/${name}: no status.podIP`);
    const cur = findPod(lab, ns, name);
    if (cur && cur.node === node && cur.ip === ip) return; // labels only: identities change at push
    if (cur) this.unplacePod(lab, cur);
    const pod: LabPod = buildPod(this.cfg, lab, { namespace: ns, name, node, ip });
    lab.pods.push(pod);
  }

  private unplacePod(lab: LabState, pod: LabPod): void {
    removePod(lab, pod);
    lab.pods = lab.pods.filter((p) => p !== pod);
  }

  private deleteOne(lab: LabState, store: ObjectStore, o: KubeObject): string | null {
    const prev = store.remove(o);
    if (o.kind === 'Pod') {
      const pod = findPod(lab, o.metadata.namespace ?? 'default', o.metadata.name);
      if (pod) this.unplacePod(lab, pod);
    }
    if (o.kind === 'Namespace') {
      // like Kubernetes: deleting a namespace deletes everything in it
      for (const x of store.list()) {
        if (x.kind !== 'Namespace' && x.metadata.namespace === o.metadata.name) store.remove(x);
      }
      for (const pod of lab.pods.filter((p) => p.namespace === o.metadata.name)) this.unplacePod(lab, pod);
    }
    return prev ? `${describe(prev)} deleted` : null;
  }

  /** Compile every node's tables for the store's revision and wait until every agent acks it. */
  async push(lab: LabState, store: ObjectStore): Promise<void> {
    const rev = store.revision;
    const pushes = buildPushes(lab, store.list(), rev, this.o.compiler);
    const timeout = this.o.ackTimeoutMs ?? 15_000;
    await Promise.all(
      lab.nodes.map(async (n) => {
        if (!n.agentPid || !pidRunning(n.agentPid)) {
          // A crashed agent is restarted; it re-opens the pinned maps and gets the full state below.
          this.o.log.warn({ node: n.name, pid: n.agentPid }, 'agent not running: restarting it');
          await this.startAgent(lab, n);
        }
        const r = await agentRequest(n.socket, 'PUT', '/v1/tables', pushes.get(n.name), timeout);
        if (r.status !== 200) {
          const msg = (r.body as { message?: string } | null)?.message ?? JSON.stringify(r.body);
          throw new DifwError('DIFW_E_AGENT', `Cannot enforce revision ${rev} on node ${n.name}: ${msg}`);
        }
        const ack = Ack.safeParse(r.body);
        if (!ack.success || ack.data.revision !== rev) {
          throw new DifwError('DIFW_E_AGENT', `Cannot enforce revision ${rev} on node ${n.name}: agent acked ${JSON.stringify(r.body)}`);
        }
      }),
    );
  }

  private async startAgent(lab: LabState, n: LabNode): Promise<void> {
    const main = fileURLToPath(new URL('../cli/main.js', import.meta.url));
    mkdirSync(n.dir, { recursive: true, mode: 0o700 });
    const fd = openSync(n.log, 'a', 0o600);
    const args = [
      `--net=/run/netns/${n.netns}`,
      '--',
      process.execPath,
      '--enable-source-maps',
      '--no-warnings=ExperimentalWarning',
      main,
      'lab-agent',
      '--node', n.name,
      '--node-id', String(n.id),
      '--lab-dir', this.cfg.dir,
      '--socket', n.socket,
      '--bpffs', n.bpffs,
      '--cgroup', n.cgroup,
    ];
    let exited = false;
    const child = spawn('nsenter', args, { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, DIFW_LAB_PREFIX: this.cfg.prefix } });
    closeSync(fd);
    child.on('exit', () => (exited = true));
    child.unref();
    n.agentPid = child.pid;
    writeLab(this.cfg, lab);
    try {
      await waitHealthy(n.socket, 20_000, () => !exited);
    } catch (e) {
      await stopPid(n.agentPid);
      // the log goes away with a failed lab: say here why the agent died
      throw new DifwError('DIFW_E_AGENT', `Cannot start the agent of node ${n.name}: ${(e as Error).message}${logTail(n.log)}`, { cause: e });
    }
  }
}
