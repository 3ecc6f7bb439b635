/**
 * Loads ../shared/conformance/k8s-netpol-public.json and replays its cases as object lists,
 * the same way ../shared/tools/netpol/netpol.py drives a lab (node from the pod IP's third octet,
 * actions applied in order). Used by the netpol unit tests.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseObject, type ClusterObject } from '../../src/policy/netpol/model.js';

export const CASES_PATH = resolve(process.env.DIFW_SHARED ?? resolve(process.cwd(), '../shared'), 'conformance/k8s-netpol-public.json');

export interface Expect { default: boolean; allow?: [string, string][]; deny?: [string, string][] }
export interface Probe { port: number; protocol: 'TCP' | 'UDP' | 'SCTP'; expect: Expect }
export interface ModelPod { namespace: string; name: string; labels: Record<string, string>; ip: string; containerPorts: { name: string; containerPort: number; protocol: string }[] }
export interface Case { name: string; policies?: unknown[]; probe?: Omit<Probe, 'expect'>; expect?: Expect; probes?: Probe[]; steps?: { actions?: Action[]; probes?: Probe[] }[] }
export type Action = Record<string, any> & { op: string };
export interface CaseFile { model: { namespaces: Record<string, { labels: Record<string, string> }>; pods: ModelPod[] }; cases: Case[]; validationCases: { name: string; valid: boolean; policy: unknown }[] }

export function loadCases(): CaseFile | undefined {
  return existsSync(CASES_PATH) ? (JSON.parse(readFileSync(CASES_PATH, 'utf8')) as CaseFile) : undefined;
}

export const nodeFor = (ip: string) => (ip.split('.')[2] === '1' ? 'node-1' : 'node-2');

export function nsObj(name: string, labels: Record<string, string>) {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}
export function podObj(ns: string, name: string, labels: Record<string, string>, ip: string, ports: [string, number, string][]) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels, annotations: { 'difw.io/node': nodeFor(ip) } },
    spec: { containers: [{ name: 'server', ports: ports.map(([n, p, proto]) => ({ name: n, containerPort: p, protocol: proto })) }] },
    status: { podIP: ip },
  };
}

/** A mutable object store keyed like the lab's (kind/ns/name). */
export class Store {
  m = new Map<string, unknown>();
  constructor(readonly file: CaseFile) {
    for (const [ns, spec] of Object.entries(file.model.namespaces)) this.put(nsObj(ns, spec.labels));
    for (const p of file.model.pods) this.put(podObj(p.namespace, p.name, p.labels, p.ip, p.containerPorts.map((c) => [c.name, c.containerPort, c.protocol])));
  }
  key(o: any) {
    return `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  }
  put(o: any) {
    this.m.set(this.key(o), o);
  }
  del(o: any) {
    this.m.delete(this.key(o));
  }
  objects(): ClusterObject[] {
    return [...this.m.values()].map((o) => parseObject(o)).filter((o): o is ClusterObject => o !== undefined);
  }
  pods(): string[] {
    return [...this.m.values()].filter((o: any) => o.kind === 'Pod').map((o: any) => `${o.metadata.namespace}/${o.metadata.name}`).sort();
  }
  pod(key: string): any {
    const [ns, name] = key.split('/');
    return this.m.get(`Pod/${ns}/${name}`);
  }
  apply(a: Action): void {
    const model = this.file.model;
    switch (a.op) {
      case 'create':
      case 'update':
        return this.put(a.policy);
      case 'delete':
        return this.del({ kind: 'NetworkPolicy', metadata: { namespace: a.namespace, name: a.name } });
      case 'deleteAllPolicies':
        for (const k of [...this.m.keys()]) if (k.startsWith('NetworkPolicy/')) this.m.delete(k);
        return;
      case 'createNamespace':
      case 'setNamespaceLabels':
      case 'addNamespaceLabels': {
        let labels = { ...a.labels };
        if (a.op === 'addNamespaceLabels') labels = { ...(model.namespaces[a.namespace]?.labels ?? {}), ...labels };
        labels['kubernetes.io/metadata.name'] ??= a.namespace;
        return this.put(nsObj(a.namespace, labels));
      }
      case 'deleteNamespace':
        // as in Kubernetes, deleting a namespace deletes its pods (and policies)
        for (const k of [...this.m.keys()]) if (k.split('/')[1] === a.namespace) this.m.delete(k);
        return this.del({ kind: 'Namespace', metadata: { name: a.namespace } });
      case 'createPod':
      case 'setPodLabels':
      case 'addPodLabels': {
        const [ns, name] = (a.pod as string).split('/') as [string, string];
        const cur = this.pod(a.pod);
        const ip = a.ip ?? cur?.status.podIP;
        const mp = model.pods.find((p) => p.namespace === ns && p.name === name);
        let labels = { ...a.labels };
        if (a.op === 'addPodLabels' && mp) labels = { ...mp.labels, ...labels };
        const ports: [string, number, string][] = a.containerPorts?.length ? a.containerPorts : (mp?.containerPorts ?? []).map((c) => [c.name, c.containerPort, c.protocol]);
        return this.put(podObj(ns, name, labels, ip, ports));
      }
      case 'deletePod': {
        const [ns, name] = (a.pod as string).split('/');
        return this.del({ kind: 'Pod', metadata: { namespace: ns, name } });
      }
      default:
        throw new Error(`unknown action ${a.op}`);
    }
  }
}

export function expected(e: Expect, s: string, d: string): boolean {
  if (e.allow?.some(([a, b]) => a === s && b === d)) return true;
  if (e.deny?.some(([a, b]) => a === s && b === d)) return false;
  return e.default;
}

/** Replays a case: calls `check(store, probe)` at every probe point. */
export function replay(file: CaseFile, c: Case, check: (store: Store, probe: Probe) => void): void {
  const store = new Store(file);
  if (c.steps) {
    for (const step of c.steps) {
      for (const a of step.actions ?? []) store.apply(a);
      for (const p of step.probes ?? []) check(store, p);
    }
    return;
  }
  for (const p of c.policies ?? []) store.put(p);
  const probes = c.probes ?? [{ ...c.probe!, expect: c.expect! }];
  for (const p of probes) check(store, p);
}
