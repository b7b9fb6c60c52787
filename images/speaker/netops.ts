// NetworkOps over the OS tools: `ip` (iproute2) for addresses, iputils `arping` for gratuitous ARP,
// `na6` (ipv6toolkit) for unsolicited neighbour advertisements. reference/l2-announce.md has the
// measured behaviour behind each flag. With a netns set (tests), every command runs as
// `ip netns exec <netns> ...` while the speaker itself stays in the root namespace.
import { execa } from 'execa';
import { chooseInterface, type LinkInfo, type RouteTable } from '../../lib/speaker/interface';
import type { NetworkOps } from '../../lib/speaker/ports';
import { familyOf } from '../../lib/speaker/pools';

export interface NetworkEvents {
  commandFailed(command: string, args: readonly string[], error: string): void;
  gratuitousSent(family: 'ipv4' | 'ipv6', address: string, iface: string): void;
}

/** How long a cached route table answers routeInterfaceFor (it changes rarely; misses refresh it). */
const TABLE_TTL_MS = 10_000;
/** A GARP command that has not finished by then is stuck; `arping -c 1` takes ~1 s. */
const GARP_TIMEOUT_MS = 5_000;
const COMMAND_TIMEOUT_MS = 5_000;

interface IpAddrJson {
  ifname?: string;
  addr_info?: { local?: string; prefixlen?: number }[];
}

export function parseIpAddrJson(text: string): LinkInfo[] {
  const links = JSON.parse(text) as IpAddrJson[];
  return links
    .filter((l) => typeof l.ifname === 'string')
    .map((l) => ({
      name: l.ifname ?? '',
      addresses: (l.addr_info ?? [])
        .filter((a) => typeof a.local === 'string' && typeof a.prefixlen === 'number')
        .map((a) => ({ address: a.local ?? '', prefixLength: a.prefixlen ?? 0 })),
    }));
}

function firstDev(text: string): string | undefined {
  const routes = JSON.parse(text || '[]') as { dev?: string }[];
  return routes.find((r) => typeof r.dev === 'string')?.dev;
}

function errorText(e: unknown): string {
  if (e && typeof e === 'object' && 'stderr' in e && typeof e.stderr === 'string' && e.stderr) return e.stderr.trim();
  return e instanceof Error ? e.message : String(e);
}

export class ShellNetworkOps implements NetworkOps {
  private table?: { at: number; value: RouteTable };

  constructor(
    private readonly events: NetworkEvents,
    private readonly netns?: string,
  ) {}

  private argv(command: string, args: readonly string[]): [string, string[]] {
    return this.netns ? ['ip', ['netns', 'exec', this.netns, command, ...args]] : [command, [...args]];
  }

  private async run(command: string, args: readonly string[], tolerate?: RegExp): Promise<string> {
    const [file, argv] = this.argv(command, args);
    try {
      return (await execa(file, argv, { timeout: COMMAND_TIMEOUT_MS })).stdout;
    } catch (e) {
      const text = errorText(e);
      if (tolerate?.test(text)) return '';
      this.events.commandFailed(command, args, text);
      throw new Error(`${command} ${args.join(' ')}: ${text}`);
    }
  }

  private start(command: string, args: readonly string[], done: () => void): void {
    const [file, argv] = this.argv(command, args);
    execa(file, argv, { timeout: GARP_TIMEOUT_MS, stdin: 'ignore', stdout: 'ignore' }).then(done, (e: unknown) =>
      this.events.commandFailed(command, args, errorText(e)),
    );
  }

  async addAddress(address: string, iface: string): Promise<void> {
    const args =
      familyOf(address) === 'ipv4'
        ? ['addr', 'add', `${address}/32`, 'dev', iface]
        : ['-6', 'addr', 'add', `${address}/128`, 'dev', iface, 'nodad'];
    await this.run('ip', args, /File exists|already assigned/);
  }

  async removeAddress(address: string, iface: string): Promise<void> {
    const prefix = familyOf(address) === 'ipv4' ? 32 : 128;
    await this.run('ip', ['addr', 'del', `${address}/${prefix}`, 'dev', iface], /Cannot assign requested address|Address not found/);
  }

  async listAddresses(): Promise<RouteTable> {
    const [addrs, v4, v6] = await Promise.all([
      this.run('ip', ['-j', 'addr', 'show']),
      this.run('ip', ['-j', '-4', 'route', 'show', 'default']),
      this.run('ip', ['-j', '-6', 'route', 'show', 'default']),
    ]);
    const defaultV4 = firstDev(v4);
    const defaultV6 = firstDev(v6);
    const table: RouteTable = {
      links: parseIpAddrJson(addrs),
      ...(defaultV4 ? { defaultV4 } : {}),
      ...(defaultV6 ? { defaultV6 } : {}),
    };
    this.table = { at: Date.now(), value: table };
    return table;
  }

  async routeInterfaceFor(address: string, configured: readonly string[]): Promise<string | undefined> {
    const cached = this.table && Date.now() - this.table.at < TABLE_TTL_MS ? this.table.value : undefined;
    const hit = cached && chooseInterface(address, configured, cached);
    return hit ?? chooseInterface(address, configured, await this.listAddresses());
  }

  sendGratuitous(address: string, iface: string): void {
    if (familyOf(address) === 'ipv4') {
      // Request form (sender IP = target IP) and reply form; some switches honour only one of them.
      for (const mode of ['-U', '-A']) {
        this.start('arping', ['-q', mode, '-c', '1', '-I', iface, address], () =>
          this.events.gratuitousSent('ipv4', address, iface),
        );
      }
    } else {
      // -o: the override flag, without which receivers keep their existing entry.
      this.start('na6', ['-i', iface, '-s', address, '-d', 'ff02::1', '-t', address, '-o', '-e'], () =>
        this.events.gratuitousSent('ipv6', address, iface),
      );
    }
  }
}
