/**
 * Reading object files (multi-document YAML; JSON is YAML) and normalising objects before they
 * enter the store: kind and name present, Namespaces carry `kubernetes.io/metadata.name`, Pods
 * carry the fields the lab needs (node annotation, IPv4 podIP).
 */
import { parseAllDocuments } from 'yaml';
import { DifwError } from '../errors.js';
import type { KubeObject } from './store.js';

export const SUPPORTED_KINDS = new Set(['Lab', 'Namespace', 'Pod', 'NetworkPolicy', 'DifwPolicy']);

export function parseObjects(text: string, source: string): KubeObject[] {
  const out: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new DifwError('DIFW_E_USAGE', `Cannot parse ${source}: ${doc.errors[0]!.message}`);
    const v = doc.toJS() as unknown;
    if (v === null || v === undefined) continue;
    out.push(normalize(v, source));
  }
  return out;
}

export function normalize(v: unknown, source: string): KubeObject {
  const o = v as Partial<KubeObject>;
  if (typeof o !== 'object' || o === null || typeof o.kind !== 'string' || typeof o.metadata?.name !== 'string') {
    throw new DifwError('DIFW_E_USAGE', `Cannot read an object in ${source}: every document needs kind and metadata.name`);
  }
  if (!SUPPORTED_KINDS.has(o.kind)) throw new DifwError('DIFW_E_USAGE', `Cannot handle kind "${o.kind}" in ${source}: supported kinds are ${[...SUPPORTED_KINDS].join(', ')}`);
  const obj = JSON.parse(JSON.stringify(o)) as KubeObject;
  if (obj.kind === 'Namespace') {
    obj.metadata.labels = { ...(obj.metadata.labels ?? {}), 'kubernetes.io/metadata.name': obj.metadata.name };
  }
  if (obj.kind !== 'Namespace' && obj.kind !== 'Lab') obj.metadata.namespace ??= 'default';
  return obj;
}

export function podNode(p: KubeObject): string | undefined {
  return p.metadata.annotations?.['difw.io/node'];
}

export function podIP(p: KubeObject): string | undefined {
  const st = p.status as { podIP?: string } | undefined;
  return st?.podIP;
}

export function describe(o: KubeObject): string {
  const kind = o.kind === 'NetworkPolicy' ? 'networkpolicy.networking.k8s.io' : o.kind === 'DifwPolicy' ? 'difwpolicy.difw.io' : o.kind.toLowerCase();
  return `${kind}/${o.metadata.name}`;
}
