/**
 * The rule sets every firewall gets, generated in each tool's own format.
 *
 * "N rules" means N ufw-level rules: N-1 `deny from 198.19.a.b` (distinct /32 sources that never
 * match the benchmark flow) followed by `allow 5201` (tcp and udp), which admits the flow. A
 * firewall that evaluates rules in order walks all N-1 denies for every packet it classifies;
 * one that classifies by table lookups does not. The default incoming policy is deny, and each
 * ruleset starts with the usual "accept established/related" and "accept loopback" rules, as
 * an administrator (or ufw) writes them.
 *
 * Note on the UDP flow: it is one-way, so conntrack never sees a reply and never marks it
 * ESTABLISHED; every datagram walks the chain in iptables/nftables/ufw. For TCP only the SYN
 * (state NEW) walks it.
 */
export const FLOW_PORT = 5201;

/** The i-th (0-based) non-matching source: 198.19.0.1, 198.19.0.2, … (at most 65 534). */
export function denySource(i: number): string {
  const n = i + 1;
  if (n > 65534) throw new Error('too many deny rules');
  return `198.19.${n >> 8}.${n & 255}`;
}

export function denySources(count: number): string[] {
  return Array.from({ length: Math.max(0, count) }, (_, i) => denySource(i));
}

/** ufw command lines (also difw's batch format: one ufw rule command per line). */
export function ufwCommands(rules: number): string[] {
  return [...denySources(rules - 1).map((a) => `deny from ${a}`), `allow ${FLOW_PORT}`];
}

export function iptablesRestore(rules: number): string {
  const lines = [
    '*filter',
    ':INPUT DROP [0:0]',
    ':FORWARD DROP [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    '-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    '-A INPUT -i lo -j ACCEPT',
    ...denySources(rules - 1).map((a) => `-A INPUT -s ${a}/32 -j DROP`),
    `-A INPUT -p tcp -m tcp --dport ${FLOW_PORT} -j ACCEPT`,
    `-A INPUT -p udp -m udp --dport ${FLOW_PORT} -j ACCEPT`,
    'COMMIT',
  ];
  return lines.join('\n') + '\n';
}

export function nftRuleset(rules: number): string {
  const lines = [
    'table inet bnbench {',
    '  chain input {',
    '    type filter hook input priority filter; policy drop;',
    '    ct state established,related accept',
    '    iif "lo" accept',
    ...denySources(rules - 1).map((a) => `    ip saddr ${a} drop`),
    `    tcp dport ${FLOW_PORT} accept`,
    `    udp dport ${FLOW_PORT} accept`,
    '  }',
    '}',
  ];
  return lines.join('\n') + '\n';
}

/**
 * ufw's /etc/ufw/user.rules (and user6.rules) for the same N rules, in the format ufw itself
 * writes (chain declarations, "### tuple ###" comments, logging and rate-limit sections), so
 * `ufw enable`/`ufw reload` loads them exactly as if they had been added one command at a time.
 */
export function ufwUserRules(rules: number, v6: boolean): string {
  const c = v6 ? 'ufw6' : 'ufw';
  const any = v6 ? '::/0' : '0.0.0.0/0';
  const chains = [
    'user-input', 'user-output', 'user-forward',
    'before-logging-input', 'before-logging-output', 'before-logging-forward',
    'user-logging-input', 'user-logging-output', 'user-logging-forward',
    'after-logging-input', 'after-logging-output', 'after-logging-forward',
    'logging-deny', 'logging-allow', 'user-limit', 'user-limit-accept',
  ];
  const body: string[] = [];
  if (!v6) {
    for (const a of denySources(rules - 1)) {
      body.push(`### tuple ### deny any any ${any} any ${a} in`, `-A ${c}-user-input -s ${a} -j DROP`, '');
    }
  }
  body.push(
    `### tuple ### allow any ${FLOW_PORT} ${any} any ${any} in`,
    `-A ${c}-user-input -p tcp --dport ${FLOW_PORT} -j ACCEPT`,
    `-A ${c}-user-input -p udp --dport ${FLOW_PORT} -j ACCEPT`,
    '',
  );
  const lim = '-m limit --limit 3/min --limit-burst 10';
  return [
    '*filter',
    ...chains.map((x) => `:${c}-${x} - [0:0]`),
    '### RULES ###',
    '',
    ...body,
    '### END RULES ###',
    '',
    '### LOGGING ###',
    `-A ${c}-after-logging-input -j LOG --log-prefix "[UFW BLOCK] " ${lim}`,
    `-A ${c}-after-logging-forward -j LOG --log-prefix "[UFW BLOCK] " ${lim}`,
    `-I ${c}-logging-deny -m conntrack --ctstate INVALID -j RETURN ${lim}`,
    `-A ${c}-logging-deny -j LOG --log-prefix "[UFW BLOCK] " ${lim}`,
    `-A ${c}-logging-allow -j LOG --log-prefix "[UFW ALLOW] " ${lim}`,
    '### END LOGGING ###',
    '',
    '### RATE LIMITING ###',
    `-A ${c}-user-limit -m limit --limit 3/minute -j LOG --log-prefix "[UFW LIMIT BLOCK] "`,
    `-A ${c}-user-limit -j REJECT`,
    `-A ${c}-user-limit-accept -j ACCEPT`,
    '### END RATE LIMITING ###',
    'COMMIT',
    '',
  ].join('\n');
}
