// Bounded work for the speaker's commands: a takeover of a thousand addresses must not start
// thousands of processes at once under the Pod's memory limit. No I/O here: the shell
// (images/speaker/netops.ts) runs what these hand out.

/**
 * Addresses announced at once by default. Each IPv4 address runs two arping processes of about a
 * second (arping waits its interval after the last packet) and ~0.5 MB each: 64 addresses are at
 * most 128 processes (~60 MB) instead of 2,000 for a takeover of 1,000 addresses, which then needs
 * at least ~16 s to its last first announcement (bench/takeover.ts has the figures: 32 was slower
 * and no lighter in the speaker's own memory there).
 */
export const ANNOUNCE_CONCURRENCY = 64;

/** At most `limit` tasks at once; the others wait in order. */
export class Limiter {
  private running = 0;
  private readonly queue: (() => void)[] = [];

  constructor(private readonly limit: number) {
    if (!(Number.isInteger(limit) && limit >= 1))
      throw new RangeError(`limit ${limit}: want an integer >= 1`);
  }

  /** Tasks running now. */
  get active(): number {
    return this.running;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) this.running += 1;
    else await new Promise<void>((resolve) => this.queue.push(resolve));
    try {
      return await task();
    } finally {
      // The slot passes straight to the next waiter, so a late caller cannot overtake the queue.
      const next = this.queue.shift();
      if (next) next();
      else this.running -= 1;
    }
  }
}

/**
 * Announcements waiting for a slot, one entry per key (an address): asking again for an address
 * that is still waiting adds nothing (a backlog of 1,000 addresses stays 1,000 entries however many
 * refresh rounds come due meanwhile), except that an urgent ask moves it ahead. Urgent entries (the
 * first announcement of an address whose ownership was just gained) go before the rest (refreshes
 * and later rounds); within one urgency, first come first served.
 */
export class AnnouncementQueue<T> {
  private readonly urgent = new Map<string, T>();
  private readonly normal = new Map<string, T>();

  get size(): number {
    return this.urgent.size + this.normal.size;
  }

  push(key: string, item: T, urgent: boolean): void {
    if (this.urgent.has(key)) return;
    if (urgent) {
      this.normal.delete(key);
      this.urgent.set(key, item);
    } else if (!this.normal.has(key)) this.normal.set(key, item);
  }

  /** Forgets a waiting entry (its address was removed: announcing it now would be wrong). */
  drop(key: string): boolean {
    return this.urgent.delete(key) || this.normal.delete(key);
  }

  /** Takes up to `count` entries, urgent first, each in the order it came. */
  take(count: number): T[] {
    const out: T[] = [];
    for (const map of [this.urgent, this.normal]) {
      for (const [key, item] of map) {
        if (out.length >= count) return out;
        out.push(item);
        map.delete(key);
      }
    }
    return out;
  }
}
