// NetworkOps over the OS tools: `ip` (iproute2) for addresses, iputils `arping` for gratuitous ARP,
// `na6` (ipv6toolkit) for unsolicited neighbour advertisements. docs/L2-ANNOUNCE.md has the
// measured behaviour behind each flag. With a netns set (tests), every command runs as
// `ip netns exec <netns> ...` while the speaker itself stays in the root namespace.
import { execa } from 'execa';
import {
  chooseInterface,
  OWN_ADDRESS_METRIC,
  type LinkInfo,
  type RouteTable,
} from '../../lib/speaker/interface';
import { ForeignAddressError, type DuplicateProbe, type NetworkOps } from '../../lib/speaker/ports';
import { familyOf } from '../../lib/speaker/pools';
import { ANNOUNCE_CONCURRENCY, AnnouncementQueue, Limiter } from '../../lib/speaker/queue';

export interface NetworkEvents {
  commandFailed(command: string, args: readonly string[], error: string): void;
  gratuitousSent(family: 'ipv4' | 'ipv6', address: string, iface: string): void;
}

/** How long a cached route table answers routeInterfaceFor (it changes rarely; misses refresh it). */
const TABLE_TTL_MS = 10_000;
/** A GARP command that has not finished by then is stuck; `arping -c 1` takes ~1 s. */
const GARP_TIMEOUT_MS = 5_000;
const COMMAND_TIMEOUT_MS = 5_000;
/** `ip` commands at once: a spawn blocks the event loop for a moment, and the lease renewal must not wait. */
const COMMAND_CONCURRENCY = 4;
/**
 * Duplicate probes asked for in one turn of the event loop run from one `sh` (up to PROBE_BATCH
 * addresses, in parallel inside it: each `arping -D -w 1` takes a second when nobody answers), and
 * at most PROBE_CONCURRENCY such shells at once, apart from the `ip` commands: a slot of the refresh
 * period costs one spawn however many addresses fall into it.
 */
const PROBE_BATCH = 32;
const PROBE_CONCURRENCY = 4;
const PROBE_TIMEOUT_MS = 5_000;

/**
 * Probes each (interface, address) pair of its positional parameters in the background and prints
 * every output line of each probe as `<address> <line>`, then `<address> EXIT <code>`: one line per
 * write, so that the parallel probes cannot garble each other's lines. IPv4: `arping -D` (duplicate
 * address detection); IPv6: `ndisc6` (a neighbour solicitation; -m prints every answer).
 */
const PROBE_SCRIPT = `while [ $# -gt 1 ]; do
  (
    case "$2" in
      *:*) out=$(ndisc6 -m -n -r 1 -w 1000 "$2" "$1" 2>&1) ;;
      *) out=$(arping -D -c 1 -w 1 -I "$1" "$2" 2>&1) ;;
    esac
    code=$?
    printf '%s\\n' "$out" | while IFS= read -r line; do printf '%s %s\\n' "$2" "$line"; done
    printf '%s EXIT %s\\n' "$2" "$code"
  ) &
  shift 2
done
wait`;

/** What run() returns for an error it was told to tolerate. */
const TOLERATED = '\u0000tolerated';

/**
 * What `arping -D -c 1 -w 1` (iputils, not quiet) printed and its exit code, as a DuplicateProbe.
 * Measured in namespaces: exit 0 = no reply (no other host has the address; the node's own kernel
 * does not answer its own probe; nor does anyone on a link without carrier, where the probe still
 * counts as sent); exit 1 = a reply came ("Unicast reply from <addr> [<MAC>]") — or no probe went
 * out at all ("Sent 0 probes"), which is no answer but a failure; exit 2 = an error such as an
 * unknown interface or one that is administratively down.
 */
export function parseArpingDad(output: string, exitCode: number | undefined): DuplicateProbe | Error {
  const reply = /reply from \S+ \[([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})\]/.exec(output);
  const received = Number(/Received (\d+) response/.exec(output)?.[1] ?? 0);
  if (reply || received > 0) return { duplicate: true, ...(reply ? { mac: reply[1]!.toLowerCase() } : {}) };
  if (exitCode === 0) return { duplicate: false };
  if (/Sent 0 probes/.test(output)) return new Error('no probe went out (is the link up?)');
  const text = output.trim().split('\n').filter(Boolean).join('; ');
  return new Error(text || `exit code ${exitCode ?? 'none'}`);
}

/**
 * What `ndisc6 -m -n -r 1 -w 1000 <addr> <iface>` printed and its exit code, as a DuplicateProbe.
 * Measured in namespaces: exit 0 with "Target link-layer address: <MAC>" = another host answered
 * (the node's own kernel does not answer its own solicitation); exit 2 with "No response." = nobody
 * did; anything else (an unknown interface, no link-local address yet) is a failure.
 */
export function parseNdiscProbe(output: string, exitCode: number | undefined): DuplicateProbe | Error {
  const reply = /Target link-layer address: ([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})/.exec(output);
  if (reply) return { duplicate: true, mac: reply[1]!.toLowerCase() };
  if (exitCode === 2 && /No response/.test(output)) return { duplicate: false };
  const text = output.trim().split('\n').filter(Boolean).join('; ');
  return new Error(text || `exit code ${exitCode ?? 'none'}`);
}

/**
 * Starts every announcement of a chunk in the background and reports the addresses whose command
 * failed as `FAILED <address>` lines. IPv4: arping in request form (-U) and reply form (-A), as
 * some switches honour only one; IPv6: na6 with the override flag (-o), without which receivers
 * keep their entry. Arguments: pairs of (interface, address) as positional parameters, never
 * spliced into the text.
 */
const ANNOUNCE_SCRIPT = `pids=""
while [ $# -gt 1 ]; do
  case "$2" in
    *:*) na6 -i "$1" -s "$2" -d ff02::1 -t "$2" -o -e >/dev/null & pids="$pids $!:$2" ;;
    *)
      arping -q -U -c 1 -I "$1" "$2" & pids="$pids $!:$2"
      arping -q -A -c 1 -I "$1" "$2" & pids="$pids $!:$2"
      ;;
  esac
  shift 2
done
for p in $pids; do wait "\${p%%:*}" || echo "FAILED \${p#*:}"; done`;
/** Addresses per `sh`: one spawn starts a chunk's commands. */
const ANNOUNCE_CHUNK = 16;

/** Addresses per `ip -batch` of adds. */
const ADD_BATCH = 256;

/**
 * The failed lines of `ip -force -batch -` (iproute2 prints each command's error, then
 * `Command failed -:<line>`), by line number from 1, with their error text.
 */
export function ipBatchErrors(stderr: string): Map<number, string> {
  const out = new Map<number, string>();
  let text: string[] = [];
  for (const line of stderr.split('\n')) {
    const failed = /^Command failed -:(\d+)$/.exec(line.trim());
    if (failed) {
      out.set(Number(failed[1]), text.join('; ') || 'failed');
      text = [];
    } else if (line.trim()) text.push(line.trim());
  }
  return out;
}

interface IpAddrJson {
  ifname?: string;
  addr_info?: { local?: string; prefixlen?: number; metric?: number }[];
}

export function parseIpAddrJson(text: string): LinkInfo[] {
  const links = JSON.parse(text) as IpAddrJson[];
  return links
    .filter((l) => typeof l.ifname === 'string')
    .map((l) => ({
      name: l.ifname ?? '',
      addresses: (l.addr_info ?? [])
        .filter((a) => typeof a.local === 'string' && typeof a.prefixlen === 'number')
        .map((a) => ({
          address: a.local ?? '',
          prefixLength: a.prefixlen ?? 0,
          ...(a.metric === OWN_ADDRESS_METRIC ? { own: true } : {}),
        })),
    }));
}

function firstDev(text: string): string | undefined {
  const routes = JSON.parse(text || '[]') as { dev?: string }[];
  return routes.find((r) => typeof r.dev === 'string')?.dev;
}

function errorText(e: unknown): string {
  if (e && typeof e === 'object' && 'stderr' in e && typeof e.stderr === 'string' && e.stderr)
    return e.stderr.trim();
  return e instanceof Error ? e.message : String(e);
}

export class ShellNetworkOps implements NetworkOps {
  private table?: { at: number; value: RouteTable };
  private readonly commands = new Limiter(COMMAND_CONCURRENCY);
  private readonly probes = new Limiter(PROBE_CONCURRENCY);
  /** Announcements not started yet, urgent (just gained) first. */
  private readonly announcements = new AnnouncementQueue<{ address: string; iface: string }>();
  /** Addresses whose announcement commands run now. */
  private announcing = 0;
  private dispatchSoon = false;
  private pendingProbes: {
    address: string;
    iface: string;
    resolve: (r: DuplicateProbe) => void;
    reject: (e: Error) => void;
  }[] = [];
  private pendingAdds: {
    address: string;
    iface: string;
    resolve: (out: string) => void;
    reject: (e: Error) => void;
  }[] = [];
  private tableLoading?: Promise<RouteTable>;
  /** The renewal batch in flight, if any. */
  private renewing?: Promise<void>;

  constructor(
    private readonly events: NetworkEvents,
    private readonly netns?: string,
    /** The kernel lifetime of an added address (s); renewAddresses extends it. */
    private readonly lifetimeSeconds = 4,
    /** Addresses announced at once, at most (0 = no cap: every address at once, for comparison). */
    private readonly announceConcurrency = ANNOUNCE_CONCURRENCY,
  ) {}

  /** `<addr>/<len> dev <iface> metric <marker> [nodad] valid_lft <s> preferred_lft <s>`. */
  private addressArgs(address: string, iface: string): string[] {
    const v4 = familyOf(address) === 'ipv4';
    const lifetime = String(Math.max(1, Math.ceil(this.lifetimeSeconds)));
    return [
      `${address}/${v4 ? 32 : 128}`,
      'dev',
      iface,
      'metric',
      String(OWN_ADDRESS_METRIC),
      ...(v4 ? [] : ['nodad']),
      'valid_lft',
      lifetime,
      'preferred_lft',
      lifetime,
    ];
  }

  private argv(command: string, args: readonly string[]): [string, string[]] {
    return this.netns ? ['ip', ['netns', 'exec', this.netns, command, ...args]] : [command, [...args]];
  }

  private async run(command: string, args: readonly string[], tolerate?: RegExp): Promise<string> {
    const [file, argv] = this.argv(command, args);
    return this.commands.run(async () => {
      try {
        return (await execa(file, argv, { timeout: COMMAND_TIMEOUT_MS })).stdout;
      } catch (e) {
        const text = errorText(e);
        if (tolerate?.test(text)) return TOLERATED;
        this.events.commandFailed(command, args, text);
        throw new Error(`${command} ${args.join(' ')}: ${text}`);
      }
    });
  }

  /**
   * `arping -D -c 1 -w 1 -I <iface> <addr>`: one duplicate address probe, a second at most. Probes
   * asked for in one turn of the event loop share one `sh` (see PROBE_SCRIPT).
   */
  probeDuplicate(address: string, iface: string): Promise<DuplicateProbe> {
    return new Promise((resolve, reject) => {
      if (this.pendingProbes.length === 0) setImmediate(() => this.flushProbes());
      this.pendingProbes.push({ address, iface, resolve, reject });
    });
  }

  private flushProbes(): void {
    const batch = this.pendingProbes;
    this.pendingProbes = [];
    for (let i = 0; i < batch.length; i += PROBE_BATCH) void this.runProbes(batch.slice(i, i + PROBE_BATCH));
  }

  private async runProbes(items: ShellNetworkOps['pendingProbes']): Promise<void> {
    const [file, argv] = this.argv('sh', [
      '-c',
      PROBE_SCRIPT,
      'sh',
      ...items.flatMap((i) => [i.iface, i.address]),
    ]);
    const r = await this.probes.run(() =>
      execa(file, argv, { timeout: PROBE_TIMEOUT_MS, stdin: 'ignore', reject: false }),
    );
    const output = new Map<string, string[]>();
    const codes = new Map<string, number>();
    for (const line of String(r.stdout ?? '').split('\n')) {
      const space = line.indexOf(' ');
      if (space < 0) continue;
      const address = line.slice(0, space);
      const rest = line.slice(space + 1);
      const exit = /^EXIT (\d+)$/.exec(rest);
      if (exit) codes.set(address, Number(exit[1]));
      else output.set(address, [...(output.get(address) ?? []), rest]);
    }
    for (const i of items) {
      const v6 = familyOf(i.address) === 'ipv6';
      const command = v6 ? 'ndisc6' : 'arping';
      const args = v6
        ? ['-m', '-n', '-r', '1', '-w', '1000', i.address, i.iface]
        : ['-D', '-c', '1', '-w', '1', '-I', i.iface, i.address];
      const code = codes.get(i.address);
      const text = (output.get(i.address) ?? []).join('\n');
      const result =
        code === undefined
          ? new Error(r.timedOut ? 'timed out' : String(r.stderr ?? '').trim() || 'no result')
          : v6
            ? parseNdiscProbe(text, code)
            : parseArpingDad(text, code);
      if (result instanceof Error) {
        this.events.commandFailed(command, args, result.message);
        i.reject(new Error(`${command} ${args.join(' ')}: ${result.message}`));
      } else i.resolve(result);
    }
  }

  /**
   * Adds asked for in one turn of the event loop (a takeover of many addresses) go to the kernel
   * through one `ip -force -batch -` per ADD_BATCH addresses, not one process each; each address
   * still gets its own outcome (ipBatchErrors).
   */
  async addAddress(address: string, iface: string): Promise<void> {
    const out = await new Promise<string>((resolve, reject) => {
      if (this.pendingAdds.length === 0) setImmediate(() => this.flushAdds());
      this.pendingAdds.push({ address, iface, resolve, reject });
    });
    if (out !== TOLERATED) return;
    // Already there: the speaker's own (an earlier run's, not yet expired) is taken over and its
    // lifetime renewed; anyone else's is left alone.
    const table = await this.listAddresses();
    const link = table.links.find((l) => l.name === iface);
    const found = link?.addresses.find((a) => a.address === address);
    if (found?.own !== true)
      throw new ForeignAddressError(
        `${address} is already on ${iface} and was not added by a speaker (no metric ${OWN_ADDRESS_METRIC}): left alone`,
      );
    await this.renewAddresses([{ address, iface }]);
  }

  private flushAdds(): void {
    const batch = this.pendingAdds;
    this.pendingAdds = [];
    for (let i = 0; i < batch.length; i += ADD_BATCH) void this.runAdds(batch.slice(i, i + ADD_BATCH));
  }

  private async runAdds(items: ShellNetworkOps['pendingAdds']): Promise<void> {
    const script = items
      .map((i) => `address add ${this.addressArgs(i.address, i.iface).join(' ')}\n`)
      .join('');
    const [file, argv] = this.argv('ip', ['-force', '-batch', '-']);
    const r = await this.commands.run(() =>
      execa(file, argv, { input: script, timeout: COMMAND_TIMEOUT_MS, reject: false }),
    );
    const errors = ipBatchErrors(String(r.stderr ?? ''));
    // No per-line verdict although ip failed (killed, timed out, not found): every add failed.
    const whole = r.failed && errors.size === 0 ? errorText(r) || r.shortMessage || 'failed' : undefined;
    items.forEach((item, n) => {
      const args = ['addr', 'add', ...this.addressArgs(item.address, item.iface)];
      const text = whole ?? errors.get(n + 1);
      if (text === undefined) return item.resolve('');
      if (/File exists|already assigned/.test(text)) return item.resolve(TOLERATED);
      this.events.commandFailed('ip', args, text);
      item.reject(new Error(`ip ${args.join(' ')}: ${text}`));
    });
  }

  async renewAddresses(addresses: readonly { address: string; iface: string }[]): Promise<void> {
    if (addresses.length === 0) return;
    const script = addresses
      .map((a) => `address change ${this.addressArgs(a.address, a.iface).join(' ')}\n`)
      .join('');
    const [file, argv] = this.argv('ip', ['-force', '-batch', '-']);
    const run = this.commands.run(async () => {
      try {
        await execa(file, argv, { input: script, timeout: COMMAND_TIMEOUT_MS });
      } catch (e) {
        const text = errorText(e);
        this.events.commandFailed('ip', ['-batch', 'address change'], text);
        throw new Error(`ip -batch (address change x${addresses.length}): ${text}`);
      }
    });
    this.renewing = run.catch(() => undefined);
    await run;
  }

  async removeAddress(address: string, iface: string): Promise<void> {
    // An announcement still waiting for a slot would now announce an address this node gives up.
    this.announcements.drop(address);
    // A renewal in flight may name this address: `change` after `del` would add it back.
    await this.renewing;
    const prefix = familyOf(address) === 'ipv4' ? 32 : 128;
    await this.run(
      'ip',
      ['addr', 'del', `${address}/${prefix}`, 'dev', iface],
      /Cannot assign requested address|Address not found/,
    );
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
    if (hit) return hit;
    // Many announcements at once (a start, a failover) share one fresh look at the links.
    this.tableLoading ??= this.listAddresses().finally(() => (this.tableLoading = undefined));
    return chooseInterface(address, configured, await this.tableLoading);
  }

  /**
   * Announcements asked for in one turn of the event loop are queued (one entry per address, the
   * first announcement of a just gained address ahead of refreshes) and go out in chunks, one `sh`
   * per chunk, with at most `announceConcurrency` addresses being announced at once: a takeover of
   * a thousand addresses costs a bounded number of processes, not two thousand at once.
   */
  sendGratuitous(address: string, iface: string, first = false): void {
    this.announcements.push(address, { address, iface }, first);
    if (this.dispatchSoon) return;
    this.dispatchSoon = true;
    setImmediate(() => {
      this.dispatchSoon = false;
      this.dispatchAnnouncements();
    });
  }

  private dispatchAnnouncements(): void {
    const cap = this.announceConcurrency > 0 ? this.announceConcurrency : Number.POSITIVE_INFINITY;
    const chunk = this.announceConcurrency > 0 ? ANNOUNCE_CHUNK : Number.POSITIVE_INFINITY;
    // Bounded by the queue: each turn takes at least one entry.
    while (this.announcements.size > 0 && this.announcing < cap) {
      const items = this.announcements.take(Math.min(chunk, cap - this.announcing));
      this.announcing += items.length;
      void this.runAnnouncements(items).finally(() => {
        this.announcing -= items.length;
        this.dispatchAnnouncements();
      });
    }
  }

  private async runAnnouncements(items: readonly { address: string; iface: string }[]): Promise<void> {
    const [file, argv] = this.argv('sh', [
      '-c',
      ANNOUNCE_SCRIPT,
      'sh',
      ...items.flatMap((i) => [i.iface, i.address]),
    ]);
    try {
      const r = await execa(file, argv, {
        timeout: GARP_TIMEOUT_MS,
        stdin: 'ignore',
        reject: false,
        all: true,
      });
      const output = String(r.all ?? '');
      const failed = new Set(
        output
          .split('\n')
          .filter((l) => l.startsWith('FAILED '))
          .map((l) => l.slice(7)),
      );
      const detail = output
        .split('\n')
        .filter((l) => l && !l.startsWith('FAILED '))
        .join('; ');
      for (const i of items) {
        const family = familyOf(i.address);
        const command = family === 'ipv4' ? 'arping' : 'na6';
        if (failed.has(i.address) || (r.failed && !r.exitCode)) {
          this.events.commandFailed(command, [i.iface, i.address], detail || r.shortMessage || 'failed');
        } else this.events.gratuitousSent(family, i.address, i.iface);
      }
    } catch (e) {
      this.events.commandFailed('sh', ['announce', `x${items.length}`], errorText(e));
    }
  }
}
