/**
 * xdp-filter (xdp-tools) on a benchmark veth: the XDP peer of difw.
 *
 * xdp-filter pins its maps on the first bpffs it finds (it checks /sys/fs/bpf, then
 * /proc/mounts), which on this machine would be some other tool's bpffs. So each instance gets
 * a private bpffs at /run/bn-bpffs-<pid>-<tag>, bind-mounted on /sys/fs/bpf inside the mount
 * namespace `ip netns exec` creates for every call; the mount never leaves that call.
 *
 * xdp-filter takes one address per command (~10 ms each on a loaded 2-core VM, minutes for
 * 10,000). So the first address is added by xdp-filter itself, and the others are written into
 * xdp-filter's own map with one `bpftool batch`, using the exact value bytes xdp-filter wrote for
 * its first address; the entry count is checked afterwards.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { sh, trySh } from './sh.js';
import type { Pair } from './topo.js';
import { denySources } from './rules.js';

export class XdpFilter {
  readonly progId: number;
  private readonly bpffs: string;
  private readonly map: string;
  private loaded = 0;
  private value: string | null = null;

  constructor(private readonly p: Pair) {
    this.bpffs = `/run/bn-bpffs-${process.pid}-${p.tag}`;
    this.map = `${this.bpffs}/xdp-filter/filter_ipv4`;
    mkdirSync(this.bpffs, { recursive: true });
    p.onDestroy('unload xdp-filter and unmount its bpffs', () => {
      try {
        this.run(['unload', p.srvIf]);
      } catch {
        /* the namespace goes away next anyway */
      }
      trySh('umount', [this.bpffs]);
      trySh('rmdir', [this.bpffs]);
    });
    sh('mount a private bpffs for xdp-filter', 'mount', ['-t', 'bpf', 'bpf', this.bpffs]);
    this.run(['load', '--mode', 'native', p.srvIf]);
    const j = JSON.parse(sh('read the veth', 'ip', ['-n', p.srv, '-j', 'link', 'show', 'dev', p.srvIf])) as Array<{ xdp?: { prog?: { id: number } } }>;
    const id = j[0]?.xdp?.prog?.id;
    if (!id) throw new Error('xdp-filter loaded but no XDP program is attached');
    this.progId = id;
  }

  private run(args: string[]): string {
    const script = `mount --bind ${this.bpffs} /sys/fs/bpf && exec xdp-filter "$@"`;
    return sh(`run xdp-filter ${args[0]}`, 'ip', ['netns', 'exec', this.p.srv, 'sh', '-c', script, 'xdp-filter', ...args], {
      env: { ...process.env, LIBXDP_BPFFS: '/sys/fs/bpf' },
    });
  }

  addPort(port: number, proto: 'udp' | 'tcp'): void {
    this.run(['port', String(port), '--mode', 'dst', '--proto', proto]);
  }

  /** Grow the source-address deny list to the first `count` deny sources (198.19.0.1, …). */
  setAddresses(count: number): void {
    const sources = denySources(count);
    if (count > this.loaded && this.value === null) {
      this.run(['ip', sources[0]!, '--mode', 'src']);
      this.loaded = 1;
      const look = JSON.parse(sh("read xdp-filter's map entry", 'bpftool', ['-j', 'map', 'lookup', 'pinned', this.map, 'key', ...sources[0]!.split('.')])) as {
        values: Array<{ value: string[] }>;
      };
      this.value = look.values[0]!.value.map((b) => String(parseInt(b, 16))).join(' ');
    }
    const add = sources.slice(this.loaded);
    if (add.length) {
      const file = `/tmp/bn-xdpf-${process.pid}.batch`;
      writeFileSync(file, add.map((a) => `map update pinned ${this.map} key ${a.split('.').join(' ')} value ${this.value!}`).join('\n') + '\n');
      try {
        sh("fill xdp-filter's address map", 'bpftool', ['batch', 'file', file]);
      } finally {
        rmSync(file, { force: true });
      }
      this.loaded += add.length;
    }
    const entries = count === 0 ? 0 : (JSON.parse(sh("dump xdp-filter's address map", 'bpftool', ['-j', 'map', 'dump', 'pinned', this.map])) as unknown[]).length;
    if (entries !== count) throw new Error(`xdp-filter holds ${entries} addresses, expected ${count}`);
  }
}
