/**
 * The firewall model shared by the CLI (which edits it), the state store (which persists it)
 * and the rule compiler (which turns it into datapath tables). It mirrors what ufw keeps in
 * user.rules / user6.rules, so `status` listings and rule matching follow ufw exactly.
 */

export type Action = 'allow' | 'deny' | 'reject' | 'limit';
export type Direction = 'in' | 'out';
export type Policy = 'allow' | 'deny' | 'reject';
export type LogLevel = 'off' | 'low' | 'medium' | 'high' | 'full';
export type LogType = '' | 'log' | 'log-all';

export interface Rule {
  action: Action;
  direction: Direction;
  /** A `ufw route` rule (forwarded traffic) rather than an input/output rule. */
  forward: boolean;
  /** 'any', 'tcp', 'udp', or another protocol ufw accepts ('ipv6', 'esp', 'ah', 'gre', 'igmp', ...). */
  protocol: string;
  /** 'any' or an address / CIDR as ufw normalises it ('198.18.0.0/29', '2001:db8::1'). */
  src: string;
  dst: string;
  /** 'any', a port, a range 'a:b', or a comma list of those, as ufw stores it. */
  sport: string;
  dport: string;
  /** Application profile names when the rule was written with `app`, else ''. Ports above are resolved. */
  sapp: string;
  dapp: string;
  /** `in on IFACE` / `out on IFACE`; '' when unset. */
  ifaceIn: string;
  ifaceOut: string;
  logtype: LogType;
  /** true for rules kept in the IPv6 list (user6.rules). */
  v6: boolean;
  comment: string;
}

export interface Defaults {
  incoming: Policy;
  outgoing: Policy;
  /** 'disabled' is ufw's routed default when forwarding is off. */
  routed: Policy | 'disabled';
}

/** The whole persisted state of one network namespace's firewall. */
export interface FirewallState {
  version: 1;
  enabled: boolean;
  defaults: Defaults;
  logging: LogLevel;
  /** IPv4 rules then IPv6 rules, each list in ufw's evaluation order (first match wins). */
  rules: Rule[];
  rules6: Rule[];
  /** ufw's DEFAULT_APPLICATION_POLICY (`app default`); absent means 'skip'. */
  appPolicy?: AppPolicy;
  /** ufw's IPV6 setting; absent means yes (rules without addresses go to both lists). */
  ipv6?: boolean;
}

export type AppPolicy = 'allow' | 'deny' | 'reject' | 'skip';

export const DEFAULT_STATE: FirewallState = {
  version: 1,
  enabled: false,
  defaults: { incoming: 'deny', outgoing: 'allow', routed: 'disabled' },
  logging: 'low',
  rules: [],
  rules6: [],
};
