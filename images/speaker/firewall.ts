// Applies the port filter on public addresses (lib/speaker/firewall.ts) with `nft -f -`: the whole
// speaker table at once, in one transaction, only when the wanted ruleset changed, never touching
// another table. A failure (no nft, no CAP_NET_ADMIN, an old kernel) is counted and logged, and
// retried later; it never stops the speaker from announcing: the filter is protection, the
// addresses are the service.
import { execa } from 'execa';
import { firewallRemoval, firewallRuleset, type FilteredAddress } from '../../lib/speaker/firewall';

export interface FirewallEvents {
  applied(addresses: number): void;
  failed(error: string): void;
}

const NFT_TIMEOUT_MS = 5_000;
/** After a failure, the same ruleset is tried again no sooner than this (a changed one at once). */
const RETRY_MS = 10_000;

function errorText(e: unknown): string {
  if (e && typeof e === 'object' && 'stderr' in e && typeof e.stderr === 'string' && e.stderr)
    return e.stderr.trim();
  return e instanceof Error ? e.message : String(e);
}

export class NftFirewall {
  /** The ruleset the kernel holds, as far as this speaker knows (undefined: unknown or none). */
  private applied?: string;
  private failedAt = Number.NEGATIVE_INFINITY;
  private failedWith?: string;
  /** Applications run one after another, each with the newest wanted ruleset. */
  private chain: Promise<void> = Promise.resolve();
  private wanted?: { text: string; count: number };
  /** Removed for good (graceful stop): a late decision run must not put the table back. */
  private stopped = false;

  constructor(
    private readonly events: FirewallEvents,
    /** Run nft as `ip netns exec <netns> nft` (tests), like the other commands. */
    private readonly netns?: string,
    private readonly now: () => number = () => performance.now(),
  ) {}

  private async nft(script: string): Promise<void> {
    const [file, args] = this.netns
      ? ['ip', ['netns', 'exec', this.netns, 'nft', '-f', '-']]
      : ['nft', ['-f', '-']];
    await execa(file, args, { input: script, timeout: NFT_TIMEOUT_MS });
  }

  /**
   * Makes the speaker's table filter exactly `addresses` (each answering only its Service's
   * ports). Cheap when nothing changed: call it whenever the held addresses may have changed.
   * Never rejects.
   */
  sync(addresses: readonly FilteredAddress[]): Promise<void> {
    if (this.stopped) return this.chain;
    this.wanted = { text: firewallRuleset(addresses), count: addresses.length };
    this.chain = this.chain.then(() => this.applyWanted());
    return this.chain;
  }

  private async applyWanted(): Promise<void> {
    const want = this.wanted;
    if (!want || want.text === this.applied) return;
    if (want.text === this.failedWith && this.now() - this.failedAt < RETRY_MS) return;
    try {
      await this.nft(want.text);
      this.applied = want.text;
      this.failedWith = undefined;
      this.events.applied(want.count);
    } catch (e) {
      // What the kernel holds now is unknown: the transaction either fully happened or not at all.
      this.applied = undefined;
      this.failedWith = want.text;
      this.failedAt = this.now();
      this.events.failed(errorText(e));
    }
  }

  /**
   * Deletes the speaker's table (graceful stop, or the filter switched off); later sync() calls do
   * nothing. Never rejects.
   */
  remove(): Promise<void> {
    this.stopped = true;
    this.wanted = undefined;
    this.chain = this.chain.then(async () => {
      try {
        await this.nft(firewallRemoval());
        this.applied = undefined;
      } catch (e) {
        this.events.failed(errorText(e));
      }
    });
    return this.chain;
  }
}
