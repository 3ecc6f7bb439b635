/**
 * The real node datapath: the claim datapath (sockops stamping on the node's pod-parent cgroup,
 * claim maps) and the policy compiler's PodDatapath (TC programs on each pod's node-side veth),
 * both pinned under the node's own bpffs so the policy programs share the claim maps.
 *
 * apply() order matters: claim state first (a new pod's sockets must be stamped with its
 * identity, and peers/keys must be known, before policy can admit its connections), then pod
 * attachment and the policy tables.
 */
import koffi from 'koffi';
import { dirname, join } from 'node:path';
import { pino, destination } from 'pino';
import type { NodeDatapath, NodeDatapathOptions } from './node-datapath.js';
import type { TablesPush } from '../controlplane/protocol.js';
import { ClaimDatapath, cgroupId } from '../identity/claims.js';
import { DifwError } from '../errors.js';

/** The subset of src/policy/netpol's PodDatapath the agent uses. */
interface PodDatapathLike {
  attachPod(ifindex: number): void;
  detachPod(ifindex: number): void;
  apply(tables: unknown): void;
  eventsLost?(): number;
  close(): void;
}

let missingPolicy = false;
let ifNameToIndex: ((name: string) => number) | undefined;
/** ifindex in this process's netns (sysfs here is the initial netns's, so it cannot be used). */
export function ifindex(name: string): number {
  ifNameToIndex ??= koffi.load('libc.so.6').func('unsigned int if_nametoindex(const char *name)') as (n: string) => number;
  return ifNameToIndex(name);
}

async function loadPodDatapath(o: NodeDatapathOptions): Promise<PodDatapathLike> {
  const modPath = '../policy/netpol/datapath.js';
  let mod: { PodDatapath: { load(x: unknown): PodDatapathLike | Promise<PodDatapathLike> } };
  try {
    mod = (await import(modPath)) as typeof mod;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw e;
    // Not built yet: claims only, nothing enforced; /v1/health reports it.
    o.log.warn('policy datapath module missing: this node enforces no policy');
    missingPolicy = true;
    return { attachPod() {}, detachPod() {}, apply() {}, close() {} };
  }
  // Drop and audit records go to the node's event log (one JSON object per line).
  const events = pino({ base: { node: o.node } }, destination({ dest: join(dirname(o.bpffs), 'events.log'), sync: false }));
  const onEvent = (e: Record<string, unknown>) => events.info({ ...e, tsNs: String(e.tsNs) }, 'flow');
  return await mod.PodDatapath.load({ pinDir: o.bpffs, objDir: o.objDir, logger: o.log.child({ component: 'pod-datapath' }), onEvent });
}

export class LabNodeDatapath implements NodeDatapath {
  get kind(): string {
    return missingPolicy ? 'claims-only (no policy datapath)' : 'ebpf';
  }
  #attached = new Map<string, number>(); // hostIf -> ifindex
  #local = new Map<string, { id: bigint; identity: number }>(); // cgroup path -> cgroup id, identity
  #peers = new Set<string>();
  #hosted = new Set<string>();
  #epoch = -1;

  private constructor(
    private readonly o: NodeDatapathOptions,
    private readonly claims: ClaimDatapath,
    private readonly pods: PodDatapathLike,
  ) {}

  static async create(o: NodeDatapathOptions): Promise<LabNodeDatapath> {
    const claims = ClaimDatapath.load({ pinDir: o.bpffs, objDir: o.objDir, logger: o.log.child({ component: 'claims' }) });
    let pods: PodDatapathLike;
    try {
      claims.setNode(o.nodeId);
      claims.attachCgroup(o.cgroup);
      pods = await loadPodDatapath(o);
    } catch (e) {
      claims.close();
      throw e;
    }
    return new LabNodeDatapath(o, claims, pods);
  }

  async apply(push: TablesPush): Promise<void> {
    this.applyClaims(push);
    const want = new Map(push.pods.map((p) => [p.hostIf, p]));
    for (const [ifname, idx] of this.#attached) {
      if (want.has(ifname) && ifindex(ifname) === idx) continue;
      try {
        this.pods.detachPod(idx);
      } catch (e) {
        this.o.log.debug({ err: e, ifname }, 'detach of a gone pod interface');
      }
      this.#attached.delete(ifname);
    }
    // Tables before attaching new pods: a newly attached program must find its endpoint.
    this.pods.apply(push.tables);
    for (const ifname of want.keys()) {
      if (this.#attached.has(ifname)) continue;
      const idx = ifindex(ifname);
      if (!idx) throw new DifwError('DIFW_E_LAB', `Cannot attach pod interface ${ifname}: not found on node ${this.o.node}`);
      this.pods.attachPod(idx);
      this.#attached.set(ifname, idx);
    }
  }

  private applyClaims(push: TablesPush): void {
    const c = push.claims;
    const keys = c.keys.map((k) => ({ node: k.peer, epoch: k.epoch, key: Buffer.from(k.key, 'hex') }));
    this.claims.installKeys(keys, this.#epoch === c.epoch ? {} : { sendEpoch: c.epoch });
    this.#epoch = c.epoch;

    const peers = new Map(c.peers.map((p) => [p.ip, p.node]));
    for (const [ip, node] of peers) this.claims.setPeer(ip, node);
    for (const ip of this.#peers) if (!peers.has(ip)) this.claims.deletePeer(ip);
    this.#peers = new Set(peers.keys());

    const hosted = new Set(c.hosted.map((h) => `${h.node}/${h.identity}`));
    for (const h of hosted) {
      const [n, id] = h.split('/').map(Number);
      this.claims.setHosted(n!, id!, true);
    }
    for (const h of this.#hosted) {
      if (hosted.has(h)) continue;
      const [n, id] = h.split('/').map(Number);
      this.claims.setHosted(n!, id!, false);
    }
    this.#hosted = hosted;

    // Keyed by cgroup id, remembered here: a deleted pod's cgroup directory is gone by the time
    // the push arrives, so its id could not be looked up again.
    const local = new Map<string, { id: bigint; identity: number }>();
    for (const p of push.pods) {
      if (p.identity === 0) continue;
      const prev = this.#local.get(p.cgroup);
      const id = cgroupId(p.cgroup);
      if (!prev || prev.id !== id || prev.identity !== p.identity) this.claims.setLocalIdentity(id, p.identity);
      local.set(p.cgroup, { id, identity: p.identity });
    }
    for (const [cg, prev] of this.#local) {
      if (local.get(cg)?.id === prev.id) continue;
      this.claims.deleteLocal(prev.id);
    }
    this.#local = local;
  }

  eventsLost(): number {
    return this.pods.eventsLost?.() ?? 0;
  }

  async close(): Promise<void> {
    for (const idx of this.#attached.values()) {
      try {
        this.pods.detachPod(idx);
      } catch {
        /* interface gone */
      }
    }
    this.#attached.clear();
    this.pods.close();
    this.claims.close();
  }
}

export async function makeNodeDatapath(o: NodeDatapathOptions): Promise<NodeDatapath> {
  return LabNodeDatapath.create(o);
}
