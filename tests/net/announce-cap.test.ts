// The cap on concurrent announcement commands with the real arping: every address is announced,
// never more than the cap at once, and the first announcement of a just gained address goes ahead
// of refreshes that were asked for earlier.
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ShellNetworkOps } from '../../images/speaker/netops';
import { createTopology, type Topology } from '../../testbed/harness';
import { describeNet as netSuite } from '../../testbed/net-suite';

const TESTBED = resolve(__dirname, '..', '..', 'testbed');
const describeNet = netSuite();

/** arping and na6 processes running in the namespace `netns` now. */
function announcersIn(netns: string): number {
  const inode = statSync(`/run/netns/${netns}`).ino;
  let n = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (!['arping', 'na6'].includes(readFileSync(`/proc/${pid}/comm`, 'utf8').trim())) continue;
      if (readlinkSync(`/proc/${pid}/ns/net`) === `net:[${inode}]`) n += 1;
    } catch {
      // exited meanwhile
    }
  }
  return n;
}

describeNet('announcements under a cap', () => {
  let topo: Topology;

  beforeAll(async () => {
    topo = await createTopology(1, TESTBED);
  }, 60_000);

  afterAll(async () => {
    await topo?.destroy();
  });

  it('announces every address, two at a time, the just gained ones first', async () => {
    const sent: string[] = [];
    const failed: string[] = [];
    const ops = new ShellNetworkOps(
      {
        commandFailed: (c, a, e) => failed.push(`${c} ${a.join(' ')}: ${e}`),
        gratuitousSent: (_f, address) => sent.push(address),
      },
      topo.node('node-1').netns,
      3600,
      2,
    );
    const refreshes = ['192.0.2.160', '192.0.2.161', '192.0.2.162', '192.0.2.163'];
    const gained = ['192.0.2.170', '2001:db8::170'];
    await Promise.all([...refreshes, ...gained].map((a) => ops.addAddress(a, 'eth0')));
    for (const a of refreshes) ops.sendGratuitous(a, 'eth0', false);
    for (const a of gained) ops.sendGratuitous(a, 'eth0', true);
    // Asked again while waiting: still one announcement each.
    ops.sendGratuitous(refreshes[0]!, 'eth0', false);
    let most = 0;
    await topo.until(
      async () => {
        most = Math.max(most, announcersIn(topo.node('node-1').netns));
        return sent.length + failed.length >= 6 ? true : undefined;
      },
      30_000,
      20,
    );
    expect(failed).toEqual([]);
    // Two addresses at once: at most two arping each (IPv4), never the eleven processes of all six.
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(4);
    // Chunks of two run one after the other (arping takes about a second): the order is the queue's.
    expect(sent.slice(0, 2).sort()).toEqual([...gained].sort());
    expect(sent.slice(2)).toEqual(refreshes);
  }, 60_000);
});
