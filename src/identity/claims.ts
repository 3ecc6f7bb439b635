/**
 * ClaimDatapath: loads the sender of identity claims (build/sockops_claim.bpf.o) with its maps
 * pinned by name under a node's pin dir, attaches it to the node's pod-parent cgroup, and fills
 * the claim maps. The receiver side (claim_verify in bpf/lib/claim.h) lives in the policy TC
 * objects, which reuse the same pinned maps when opened with the same pin root.
 *
 * Limits: one node per pin dir; node ids 1..65535; identities are u32. Only sockets whose own
 * cgroup (not an ancestor) has a local identity are stamped.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { BpfObject, BpfLink, TypedMap, BpfMap, u32, u64 } from '../bpf/index.js';
import { DifwError } from '../errors.js';
import { logger as mkLogger, type Logger } from '../log.js';
import {
  claimAddr,
  claimCfg,
  claimLocal,
  claimPeer,
  claimKeyId,
  claimKey,
  claimHostedKey,
  CLAIM_CFG_F_STAMP,
  ClaimStat,
  CLAIM_ST_MAX,
} from './layouts.js';
import { addrBytes } from './wire.js';
import type { PeerKey } from './keys.js';

export const SOCKOPS_OBJECT = 'sockops_claim.bpf.o';
export const SOCKOPS_PROGRAM = 'difw_claim_sockops';

/** The cgroup v2 id of a cgroup directory: its inode number (= the kernfs node id). */
export function cgroupId(path: string): bigint {
  try {
    return statSync(path, { bigint: true }).ino;
  } catch (e) {
    throw new DifwError('DIFW_E_STATE', `Cannot stat cgroup ${path}: ${(e as Error).message}`, { cause: e });
  }
}

export interface ClaimLoadOptions {
  /** bpffs directory for the node's pinned maps (shared with the policy objects). */
  pinDir: string;
  /** Directory holding the compiled BPF objects (build/). */
  objDir: string;
  logger?: Logger;
}

export interface InstallKeysOptions {
  /** Epoch this node stamps with from now on (default: unchanged). */
  sendEpoch?: number;
}

export class ClaimDatapath {
  readonly #obj: BpfObject;
  readonly #log: Logger;
  readonly #links: BpfLink[] = [];
  readonly #cfg: TypedMap<number, ReturnType<typeof claimCfg.decode>>;
  readonly #local: TypedMap<bigint, ReturnType<typeof claimLocal.decode>>;
  readonly #peers: TypedMap<Buffer, ReturnType<typeof claimPeer.decode>>;
  readonly #keys: TypedMap<ReturnType<typeof claimKeyId.decode>, ReturnType<typeof claimKey.decode>>;
  readonly #hosted: TypedMap<ReturnType<typeof claimHostedKey.decode>, number>;
  readonly #stats: BpfMap;
  #closed = false;

  private constructor(obj: BpfObject, log: Logger) {
    this.#obj = obj;
    this.#log = log;
    this.#cfg = new TypedMap(obj.map('claim_cfg'), u32, claimCfg);
    this.#local = new TypedMap(obj.map('claim_local'), u64, claimLocal);
    this.#peers = new TypedMap(obj.map('claim_peers'), claimAddr, claimPeer);
    this.#keys = new TypedMap(obj.map('claim_keys'), claimKeyId, claimKey);
    this.#hosted = new TypedMap(obj.map('claim_hosted'), claimHostedKey, u32);
    this.#stats = obj.map('claim_stats');
  }

  static load(opts: ClaimLoadOptions): ClaimDatapath {
    const log = opts.logger ?? mkLogger('claims');
    const obj = BpfObject.open(join(opts.objDir, SOCKOPS_OBJECT), { pinRoot: opts.pinDir, logger: log });
    try {
      obj.load();
    } catch (e) {
      obj.close();
      throw e;
    }
    log.debug({ pinDir: opts.pinDir }, 'claim datapath loaded');
    return new ClaimDatapath(obj, log);
  }

  #check(): void {
    if (this.#closed) throw new DifwError('DIFW_E_BPF_MAP', 'Cannot use the claim datapath: it was closed');
  }

  /** Attach the stamping program to a cgroup v2 directory (the node's pod-parent cgroup). */
  attachCgroup(path: string): BpfLink {
    this.#check();
    const link = this.#obj.program(SOCKOPS_PROGRAM).attachCgroup(path);
    this.#links.push(link);
    this.#log.info({ cgroup: path }, 'claim stamping attached');
    return link;
  }

  #cfgNow() {
    return this.#cfg.get(0) ?? { node_id: 0, send_epoch: 0, flags: 0, serial: 0 };
  }

  /**
   * Write the config with its serial bumped. The programs keep per-CPU memos of what the claim
   * maps held (bpf/maps/claim_send_memo.h, claim_verify_memo.h), valid while the serial they
   * were made under is current: every change to a claim map ends with a bump.
   */
  #setCfg(c: ReturnType<typeof claimCfg.decode>): void {
    this.#cfg.set(0, { ...c, serial: (c.serial + 1) >>> 0 });
  }

  #bump(): void {
    this.#setCfg(this.#cfgNow());
  }

  /** This node's id (1..65535); stamping on unless `stamp: false`. */
  setNode(nodeId: number, opts: { stamp?: boolean } = {}): void {
    this.#check();
    if (!Number.isInteger(nodeId) || nodeId < 1 || nodeId > 0xffff) throw new DifwError('DIFW_E_USAGE', `Cannot use node id ${nodeId}: node ids are 1..65535`);
    const c = this.#cfgNow();
    const flags = opts.stamp === false ? c.flags & ~CLAIM_CFG_F_STAMP : c.flags | CLAIM_CFG_F_STAMP;
    this.#setCfg({ ...c, node_id: nodeId, flags });
  }

  /** Switch the epoch this node stamps with (its keys must be installed first). */
  setEpoch(epoch: number): void {
    this.#check();
    if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xff) throw new DifwError('DIFW_E_USAGE', `Cannot use key epoch ${epoch}: epochs are 0..255`);
    this.#setCfg({ ...this.#cfgNow(), send_epoch: epoch });
  }

  config(): { nodeId: number; sendEpoch: number; stamp: boolean } {
    const c = this.#cfgNow();
    return { nodeId: c.node_id, sendEpoch: c.send_epoch, stamp: (c.flags & CLAIM_CFG_F_STAMP) !== 0 };
  }

  /** Sockets of this cgroup (id, or a cgroup directory path) claim `identity`. */
  setLocalIdentity(cgroup: bigint | number | string, identity: number): void {
    this.#check();
    this.#local.set(toCgroupId(cgroup), { identity: identity >>> 0, _pad: 0 });
    this.#bump();
  }

  deleteLocal(cgroup: bigint | number | string): boolean {
    this.#check();
    const had = this.#local.delete(toCgroupId(cgroup));
    this.#bump();
    return had;
  }

  /** Address `ip` (a pod or node IP) is hosted by node `nodeId`: claims to it use that pair's key. */
  setPeer(ip: string, nodeId: number): void {
    this.#check();
    this.#peers.set(addrBytes(ip), { node_id: nodeId, _pad: 0 });
    this.#bump();
  }

  deletePeer(ip: string): boolean {
    this.#check();
    const had = this.#peers.delete(addrBytes(ip));
    this.#bump();
    return had;
  }

  /** Record whether node `nodeId` hosts a workload with `identity` (what it may claim). */
  setHosted(nodeId: number, identity: number, present: boolean): void {
    this.#check();
    const k = { identity: identity >>> 0, node_id: nodeId, _pad: 0 };
    if (present) this.#hosted.set(k, 1);
    else this.#hosted.delete(k);
    this.#bump();
  }

  /**
   * Make the key map hold exactly `keys` (keys of pairs involving this node; see
   * keys.ts nodeKeyring) and optionally switch the send epoch after they are in place.
   * Keys are added before stale ones are removed, so no lookup ever misses in between.
   */
  installKeys(keys: readonly PeerKey[], opts: InstallKeysOptions = {}): void {
    this.#check();
    const want = new Map<string, PeerKey>();
    for (const k of keys) {
      if (k.key.length !== 16) throw new DifwError('DIFW_E_USAGE', `Cannot install a ${k.key.length}-byte claim key (need 16)`);
      want.set(`${k.node}/${k.epoch}`, k);
    }
    for (const k of want.values()) this.#keys.set({ node_id: k.node, epoch: k.epoch, _pad: 0 }, { k0: k.key.readBigUInt64LE(0), k1: k.key.readBigUInt64LE(8) });
    if (opts.sendEpoch !== undefined) this.setEpoch(opts.sendEpoch);
    const stale = [...this.#keys.keys()].filter((id) => !want.has(`${id.node_id}/${id.epoch}`));
    for (const id of stale) this.#keys.delete(id);
    this.#bump();
    this.#log.info({ keys: want.size, removed: stale.length, sendEpoch: opts.sendEpoch }, 'claim keys installed');
  }

  /** Installed (node, epoch) key ids. */
  keyIds(): { node: number; epoch: number }[] {
    return [...this.#keys.keys()].map((k) => ({ node: k.node_id, epoch: k.epoch }));
  }

  /** Counters summed over CPUs, by ClaimStat name. */
  stats(): Record<keyof typeof ClaimStat, number> {
    this.#check();
    const out = {} as Record<keyof typeof ClaimStat, number>;
    const key = Buffer.alloc(4);
    for (const [name, idx] of Object.entries(ClaimStat) as [keyof typeof ClaimStat, number][]) {
      if (idx >= CLAIM_ST_MAX) continue;
      key.writeUInt32LE(idx);
      const per = this.#stats.lookupPerCpu(key) ?? [];
      out[name] = per.reduce((s, b) => s + Number(b.readBigUInt64LE(0)), 0);
    }
    return out;
  }

  /** Detach (links this instance made) and close the object. Pinned maps stay for the next load. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const l of this.#links.splice(0)) {
      try {
        l.destroy();
      } catch (e) {
        this.#log.warn({ err: e }, 'cannot detach claim link');
      }
    }
    this.#obj.close();
  }
}

function toCgroupId(c: bigint | number | string): bigint {
  if (typeof c === 'string') return cgroupId(c);
  return BigInt(c);
}
