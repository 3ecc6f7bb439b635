/**
 * Object model for identity mode: Namespace, Pod (core/v1 subset), NetworkPolicy
 * (networking.k8s.io/v1) and difw's own DifwPolicy (difw.io/v1).
 *
 * The schemas validate what the compiler relies on, with the upstream API server's validation
 * rules where they matter for semantics (endPort needs a numeric port and must not be below it,
 * ipBlock excludes selectors, `except` must lie inside `cidr`, selector operators and values).
 * Unknown fields are ignored (stripped), as a kubectl-style apply of a fuller object must work.
 */
import { z } from 'zod';
import { isIP } from 'node:net';
import { DifwError } from '../../errors.js';
import { parseCidr, cidrContains } from './cidr.js';

const name = z.string().min(1).max(253);
// Label syntax as the API server validates it: [DNS-subdomain prefix '/'] name, name and value
// at most 63 characters of [A-Za-z0-9-_.], alphanumeric at both ends (values may be empty).
const LABEL_NAME = '[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?';
const labelKey = z.string().regex(new RegExp(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?${LABEL_NAME}$`), 'invalid label key');
const labelValue = z.string().regex(new RegExp(`^(${LABEL_NAME})?$`), 'invalid label value');
const labels = z.record(labelKey, labelValue).default({});

export const LabelSelectorRequirement = z
  .object({
    key: z.string().min(1),
    operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
    values: z.array(z.string()).optional(),
  })
  .superRefine((r, ctx) => {
    const n = r.values?.length ?? 0;
    if ((r.operator === 'In' || r.operator === 'NotIn') && n === 0)
      ctx.addIssue({ code: 'custom', message: `operator ${r.operator} needs at least one value` });
    if ((r.operator === 'Exists' || r.operator === 'DoesNotExist') && n > 0)
      ctx.addIssue({ code: 'custom', message: `operator ${r.operator} takes no values` });
  });
export type LabelSelectorRequirement = z.infer<typeof LabelSelectorRequirement>;

/** A label selector. `{}` selects everything; an absent selector is handled by the caller. */
export const LabelSelector = z.object({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z.array(LabelSelectorRequirement).optional(),
});
export type LabelSelector = z.infer<typeof LabelSelector>;

export const Protocol = z.enum(['TCP', 'UDP', 'SCTP']);
export type Protocol = z.infer<typeof Protocol>;

export const NetworkPolicyPort = z
  .object({
    protocol: Protocol.optional(),
    port: z.union([z.number().int().min(1).max(65535), z.string().min(1).max(15)]).optional(),
    endPort: z.number().int().min(1).max(65535).optional(),
  })
  .superRefine((p, ctx) => {
    if (p.endPort === undefined) return;
    if (typeof p.port !== 'number') ctx.addIssue({ code: 'custom', message: 'endPort needs a numeric port' });
    else if (p.endPort < p.port) ctx.addIssue({ code: 'custom', message: 'endPort must not be smaller than port' });
  });
export type NetworkPolicyPort = z.infer<typeof NetworkPolicyPort>;

export const IPBlock = z
  .object({ cidr: z.string(), except: z.array(z.string()).optional() })
  .superRefine((b, ctx) => {
    const c = parseCidr(b.cidr);
    if (!c) return void ctx.addIssue({ code: 'custom', message: `invalid cidr ${b.cidr}` });
    for (const e of b.except ?? []) {
      const x = parseCidr(e);
      if (!x) ctx.addIssue({ code: 'custom', message: `invalid except cidr ${e}` });
      else if (!cidrContains(c, x) || x.len <= c.len) ctx.addIssue({ code: 'custom', message: `except ${e} must be strictly inside ${b.cidr}` });
    }
  });
export type IPBlock = z.infer<typeof IPBlock>;

const peerShape = {
  podSelector: LabelSelector.optional(),
  namespaceSelector: LabelSelector.optional(),
  ipBlock: IPBlock.optional(),
};
function checkPeer(p: { podSelector?: unknown; namespaceSelector?: unknown; ipBlock?: unknown }, ctx: z.RefinementCtx, extra = false): void {
  const sel = p.podSelector !== undefined || p.namespaceSelector !== undefined;
  if (p.ipBlock !== undefined && sel) ctx.addIssue({ code: 'custom', message: 'ipBlock cannot be combined with selectors in one peer' });
  if (!sel && p.ipBlock === undefined && !extra) ctx.addIssue({ code: 'custom', message: 'a peer needs podSelector, namespaceSelector or ipBlock' });
}

export const NetworkPolicyPeer = z.object(peerShape).superRefine((p, ctx) => checkPeer(p, ctx));
export type NetworkPolicyPeer = z.infer<typeof NetworkPolicyPeer>;

const metaNamespaced = z.object({
  name,
  namespace: name.default('default'),
  labels: labels,
  annotations: z.record(z.string(), z.string()).default({}),
});

export const NetworkPolicy = z.object({
  apiVersion: z.literal('networking.k8s.io/v1'),
  kind: z.literal('NetworkPolicy'),
  metadata: metaNamespaced,
  spec: z.object({
    podSelector: LabelSelector,
    policyTypes: z.array(z.enum(['Ingress', 'Egress'])).optional(),
    ingress: z.array(z.object({ from: z.array(NetworkPolicyPeer).optional(), ports: z.array(NetworkPolicyPort).optional() })).optional(),
    egress: z.array(z.object({ to: z.array(NetworkPolicyPeer).optional(), ports: z.array(NetworkPolicyPort).optional() })).optional(),
  }),
});
export type NetworkPolicy = z.infer<typeof NetworkPolicy>;

/** difw peers: a NetworkPolicy peer, or one entity. */
export const Entity = z.enum(['host', 'world', 'all']);
export type Entity = z.infer<typeof Entity>;
export const DifwPeer = z
  .object({ ...peerShape, entity: Entity.optional() })
  .superRefine((p, ctx) => {
    if (p.entity !== undefined && (p.podSelector || p.namespaceSelector || p.ipBlock))
      ctx.addIssue({ code: 'custom', message: 'entity cannot be combined with selectors or ipBlock in one peer' });
    checkPeer(p, ctx, p.entity !== undefined);
  });
export type DifwPeer = z.infer<typeof DifwPeer>;

const difwRule = {
  action: z.enum(['allow', 'deny']).default('allow'),
  ports: z.array(NetworkPolicyPort).optional(),
};
export const DifwPolicy = z.object({
  apiVersion: z.literal('difw.io/v1'),
  kind: z.literal('DifwPolicy'),
  metadata: metaNamespaced,
  spec: z.object({
    podSelector: LabelSelector,
    /** Report what this policy would drop, but let it pass. */
    audit: z.boolean().default(false),
    ingress: z.array(z.object({ ...difwRule, from: z.array(DifwPeer).optional() })).optional(),
    egress: z.array(z.object({ ...difwRule, to: z.array(DifwPeer).optional() })).optional(),
  }),
});
export type DifwPolicy = z.infer<typeof DifwPolicy>;

export const Namespace = z.object({
  apiVersion: z.literal('v1'),
  kind: z.literal('Namespace'),
  metadata: z.object({ name, labels: labels }),
});
export type Namespace = z.infer<typeof Namespace>;

export const ContainerPort = z.object({
  name: z.string().max(15).optional(),
  containerPort: z.number().int().min(1).max(65535),
  protocol: Protocol.default('TCP'),
});
export type ContainerPort = z.infer<typeof ContainerPort>;

const ipString = z.string().refine((s) => isIP(s) !== 0, 'invalid IP address');
export const Pod = z.object({
  apiVersion: z.literal('v1'),
  kind: z.literal('Pod'),
  metadata: metaNamespaced,
  spec: z
    .object({ containers: z.array(z.object({ name: z.string().optional(), ports: z.array(ContainerPort).default([]) })).default([]) })
    .default({ containers: [] }),
  status: z.object({ podIP: ipString.optional(), podIPs: z.array(z.object({ ip: ipString })).optional() }).default({}),
});
export type Pod = z.infer<typeof Pod>;

export type PolicyObject = NetworkPolicy | DifwPolicy;
export type ClusterObject = Namespace | Pod | NetworkPolicy | DifwPolicy;

const byKind = { Namespace, Pod, NetworkPolicy, DifwPolicy } as const;

/**
 * Parse one raw object. Kinds this module does not model (e.g. `Lab`) return undefined; a known
 * kind that fails validation throws DIFW_E_POLICY naming the object and the first problems.
 */
export function parseObject(raw: unknown): ClusterObject | undefined {
  const kind = (raw as { kind?: unknown } | null)?.kind;
  if (typeof kind !== 'string' || !(kind in byKind)) return undefined;
  const r = byKind[kind as keyof typeof byKind].safeParse(raw);
  if (!r.success) {
    const md = (raw as { metadata?: { name?: string; namespace?: string } }).metadata;
    const what = `${kind} ${md?.namespace ? md.namespace + '/' : ''}${md?.name ?? '?'}`;
    const why = r.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new DifwError('DIFW_E_POLICY', `Cannot accept ${what}: ${why}`);
  }
  return r.data as ClusterObject;
}

/** All addresses of a pod (status.podIPs, else status.podIP). */
export function podAddresses(p: Pod): string[] {
  const ips = p.status.podIPs?.map((x) => x.ip) ?? [];
  if (p.status.podIP && !ips.includes(p.status.podIP)) ips.unshift(p.status.podIP);
  return ips;
}

/** The node a pod runs on (annotation `difw.io/node`). */
export function podNode(p: Pod): string | undefined {
  return p.metadata.annotations['difw.io/node'];
}

export const NS_NAME_LABEL = 'kubernetes.io/metadata.name';

/** Namespace labels as the API server presents them: `kubernetes.io/metadata.name` always set. */
export function namespaceLabels(nsName: string, ns: Namespace | undefined): Record<string, string> {
  return { ...(ns?.metadata.labels ?? {}), [NS_NAME_LABEL]: nsName };
}
