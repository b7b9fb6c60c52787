import { AnnouncementQueue, Limiter } from '../../lib/speaker/queue';

/** A task that finishes when told to. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

const ticks = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

describe('Limiter', () => {
  it('runs at most `limit` tasks at once and starts the waiting ones in order', async () => {
    const limiter = new Limiter(2);
    const gates = [gate(), gate(), gate(), gate()];
    const started: number[] = [];
    let peak = 0;
    const all = gates.map((g, i) =>
      limiter.run(async () => {
        started.push(i);
        peak = Math.max(peak, limiter.active);
        await g.promise;
      }),
    );
    await ticks();
    expect(started).toEqual([0, 1]);
    gates[1]!.open();
    await ticks();
    expect(started).toEqual([0, 1, 2]);
    gates[0]!.open();
    gates[2]!.open();
    gates[3]!.open();
    await Promise.all(all);
    expect(started).toEqual([0, 1, 2, 3]);
    expect(peak).toBe(2);
    expect(limiter.active).toBe(0);
  });

  it('frees the slot of a task that fails', async () => {
    const limiter = new Limiter(1);
    await expect(limiter.run(() => Promise.reject(new Error('ip: exit 2')))).rejects.toThrow('ip: exit 2');
    await expect(limiter.run(() => Promise.resolve('next'))).resolves.toBe('next');
    expect(limiter.active).toBe(0);
  });

  it('refuses a limit below one', () => {
    expect(() => new Limiter(0)).toThrow(RangeError);
  });
});

describe('AnnouncementQueue', () => {
  it('hands out the first announcements of just gained addresses before refreshes, each in arrival order', () => {
    const q = new AnnouncementQueue<string>();
    q.push('192.0.2.1', 'refresh .1', false);
    q.push('192.0.2.2', 'gained .2', true);
    q.push('192.0.2.3', 'refresh .3', false);
    q.push('192.0.2.4', 'gained .4', true);
    expect(q.take(3)).toEqual(['gained .2', 'gained .4', 'refresh .1']);
    expect(q.take(3)).toEqual(['refresh .3']);
    expect(q.size).toBe(0);
  });

  it('keeps one entry per address however often it is asked for while it waits', () => {
    const q = new AnnouncementQueue<string>();
    for (let round = 0; round < 4; round++)
      for (let i = 1; i <= 1000; i++) q.push(`10.${i}`, `a${i}`, round === 0);
    expect(q.size).toBe(1000);
  });

  it('moves a waiting refresh ahead when the address is gained again, and never demotes a gained one', () => {
    const q = new AnnouncementQueue<string>();
    q.push('192.0.2.1', 'a', false);
    q.push('192.0.2.2', 'b', false);
    q.push('192.0.2.2', 'b', true);
    q.push('192.0.2.3', 'c', true);
    q.push('192.0.2.3', 'c', false);
    expect(q.take(10)).toEqual(['b', 'c', 'a']);
  });

  it('forgets an address that was removed before its turn', () => {
    const q = new AnnouncementQueue<string>();
    q.push('192.0.2.1', 'a', true);
    q.push('192.0.2.2', 'b', false);
    expect(q.drop('192.0.2.1')).toBe(true);
    expect(q.drop('192.0.2.9')).toBe(false);
    expect(q.take(10)).toEqual(['b']);
  });
});
