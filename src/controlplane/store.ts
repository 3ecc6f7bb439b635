/**
 * The embedded object store: Kubernetes-style objects keyed by kind/namespace/name, with one
 * revision counter for the whole store. Persisted as one JSON file (atomic rename) that callers
 * read and write under the lab lock, so concurrent `difw apply` commands serialise.
 *
 * The store only knows object identity (kind, namespace, name); what an object means is
 * checked by the policy compiler's schemas before it gets here (see objects.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../state/atomic.js';
import { DifwError } from '../errors.js';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

/** Kinds that live outside any namespace. */
const CLUSTER_SCOPED = new Set(['Namespace', 'Lab']);

export function objectKey(o: Pick<KubeObject, 'kind' | 'metadata'>): string {
  const ns = CLUSTER_SCOPED.has(o.kind) ? '' : o.metadata.namespace ?? 'default';
  return `${o.kind}/${ns}/${o.metadata.name}`;
}

export interface StoreData {
  revision: number;
  objects: Record<string, KubeObject>;
}

export class ObjectStore {
  private constructor(
    private readonly file: string,
    private data: StoreData,
  ) {}

  static open(file: string): ObjectStore {
    if (!existsSync(file)) return new ObjectStore(file, { revision: 0, objects: {} });
    try {
      const d = JSON.parse(readFileSync(file, 'utf8')) as StoreData;
      if (typeof d.revision !== 'number' || typeof d.objects !== 'object') throw new Error('bad shape');
      return new ObjectStore(file, d);
    } catch (e) {
      throw new DifwError('DIFW_E_STATE', `Cannot read the object store ${file}: ${(e as Error).message}`, { cause: e });
    }
  }

  get revision(): number {
    return this.data.revision;
  }

  list(kind?: string): KubeObject[] {
    const all = Object.values(this.data.objects);
    return kind ? all.filter((o) => o.kind === kind) : all;
  }

  get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.data.objects[objectKey({ kind, metadata: { name, namespace } })];
  }

  /** Insert or replace; returns the previous object. Namespaced objects default to "default". */
  put(o: KubeObject): KubeObject | undefined {
    const k = objectKey(o);
    const prev = this.data.objects[k];
    const obj = CLUSTER_SCOPED.has(o.kind) ? o : { ...o, metadata: { ...o.metadata, namespace: o.metadata.namespace ?? 'default' } };
    this.data.objects[k] = obj;
    return prev;
  }

  remove(o: Pick<KubeObject, 'kind' | 'metadata'>): KubeObject | undefined {
    const k = objectKey(o);
    const prev = this.data.objects[k];
    delete this.data.objects[k];
    return prev;
  }

  /** Bump the revision and persist. The caller holds the lab lock. */
  commit(): number {
    this.data.revision += 1;
    writeFileAtomic(this.file, JSON.stringify(this.data));
    return this.data.revision;
  }

  /** A copy of the current contents, e.g. to roll back a failed apply. */
  snapshot(): StoreData {
    return JSON.parse(JSON.stringify(this.data)) as StoreData;
  }

  restore(d: StoreData): void {
    this.data = d;
    writeFileAtomic(this.file, JSON.stringify(this.data));
  }
}
