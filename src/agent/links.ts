/**
 * Interfaces of the current network namespace, and a watcher for new ones.
 *
 * Node has no netlink sockets, and namespaces are per thread (no setns in Node), so we ask
 * iproute2, which runs in our namespace: `ip -j link show` to list and `ip -o monitor link` to
 * follow changes. The monitor's lines only trigger a re-list, so its text format does not matter.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

export interface Link {
  ifindex: number;
  name: string;
  up: boolean;
  kind: string;
}

export function listLinks(): Link[] {
  const out = execFileSync('ip', ['-j', '-d', 'link', 'show'], { encoding: 'utf8' });
  const raw = JSON.parse(out) as Array<{ ifindex: number; ifname: string; flags?: string[]; linkinfo?: { info_kind?: string } }>;
  return raw.map((l) => ({
    ifindex: l.ifindex,
    name: l.ifname,
    up: (l.flags ?? []).includes('UP'),
    kind: l.linkinfo?.info_kind ?? '',
  }));
}

/** The interfaces the firewall attaches to: every interface except loopback. */
export function firewallLinks(): Link[] {
  return listLinks().filter((l) => l.name !== 'lo');
}

/** Calls `onChange` (debounced) whenever the kernel reports a link change. */
export class LinkWatcher {
  private proc: ChildProcess | undefined;
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly onChange: () => void, private readonly debounceMs = 50) {}

  start(): void {
    const p = spawn('ip', ['-o', 'monitor', 'link'], { stdio: ['ignore', 'pipe', 'ignore'] });
    p.stdout!.on('data', () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(this.onChange, this.debounceMs);
    });
    p.on('exit', () => {
      if (this.proc === p) {
        // The monitor should live as long as we do; restart it if it dies unexpectedly.
        this.proc = undefined;
        setTimeout(() => this.proc === undefined && this.start(), 500).unref();
      }
    });
    this.proc = p;
  }

  stop(): void {
    const p = this.proc;
    this.proc = undefined;
    clearTimeout(this.timer);
    p?.kill();
  }
}
