// The speaker's boundaries: its environment, the API objects it reads, the `ip -j` output it parses,
// and the choice of interface.
import { parseArpingDad, parseNdiscProbe, parseIpAddrJson } from '../../images/speaker/netops';
import { parseSpeakerConfig } from '../../lib/speaker/config';
import { chooseInterface, ownAddresses, type RouteTable } from '../../lib/speaker/interface';
import { l2lbServiceFields, readL2LBService } from '../../lib/objects';
import { readSpeakerBalancer, readSpeakerIndex, readSpeakerLease } from '../../lib/speaker/objects';
import { canonicalAddress, parseSpeakerPool, poolContains } from '../../lib/speaker/pools';

describe('speaker configuration', () => {
  it('fills every default from a bare environment with NODE_NAME', () => {
    expect(parseSpeakerConfig({ NODE_NAME: 'node-a' })).toEqual({
      config: {
        node: 'node-a',
        namespace: 'd8-l2-load-balancer',
        leaseDurationSeconds: 30,
        renewIntervalSeconds: 15,
        garp: { count: 4, intervalMilliseconds: 1000, refreshSeconds: 60 },
        logLevel: 'info',
        metricsHost: '0.0.0.0',
        metricsPort: 9474,
        handoverTimeoutMs: 2000,
        shutdownTimeoutMs: 3000,
        statusSettleMs: 100,
        conflictCheckSeconds: 60,
        staleProbeMs: 1000,
        addressLifetimeSeconds: 4,
        portFilter: true,
        announceConcurrency: 64,
        addressRenewMs: 1000,
      },
      errors: [],
    });
  });

  it('switches the port filter off only when told, and refuses a value it does not know', () => {
    expect(parseSpeakerConfig({ NODE_NAME: 'a', PORT_FILTER: 'off' }).config?.portFilter).toBe(false);
    expect(parseSpeakerConfig({ NODE_NAME: 'a', PORT_FILTER: 'On' }).config?.portFilter).toBe(true);
    expect(parseSpeakerConfig({ NODE_NAME: 'a', PORT_FILTER: 'no' }).errors).toEqual([
      'PORT_FILTER="no": want on or off',
    ]);
  });

  it('reads the cap on concurrent announcements, 0 meaning none', () => {
    expect(
      parseSpeakerConfig({ NODE_NAME: 'a', ANNOUNCE_CONCURRENCY: '0' }).config?.announceConcurrency,
    ).toBe(0);
    expect(parseSpeakerConfig({ NODE_NAME: 'a', ANNOUNCE_CONCURRENCY: '-1' }).errors).toEqual([
      'ANNOUNCE_CONCURRENCY="-1": want a number >= 0',
    ]);
  });

  it('refuses to start without NODE_NAME or with a renew interval not below the lease duration', () => {
    expect(parseSpeakerConfig({}).errors).toEqual(['NODE_NAME is required']);
    expect(
      parseSpeakerConfig({ NODE_NAME: 'a', LEASE_DURATION_SECONDS: '2', RENEW_INTERVAL_SECONDS: '2' }).config,
    ).toBeUndefined();
  });

  it('keeps the address lifetime short whatever the lease, renewed four times per lifetime', () => {
    const long = parseSpeakerConfig({
      NODE_NAME: 'a',
      LEASE_DURATION_SECONDS: '60',
      RENEW_INTERVAL_SECONDS: '20',
    });
    expect(long.config).toEqual(expect.objectContaining({ addressLifetimeSeconds: 4, addressRenewMs: 1000 }));
    const set = parseSpeakerConfig({ NODE_NAME: 'a', ADDRESS_LIFETIME_SECONDS: '10' });
    expect(set.config).toEqual(expect.objectContaining({ addressLifetimeSeconds: 10, addressRenewMs: 2500 }));
    expect(parseSpeakerConfig({ NODE_NAME: 'a', ADDRESS_LIFETIME_SECONDS: '1' }).errors).toEqual([
      'ADDRESS_LIFETIME_SECONDS="1": want a number >= 2',
    ]);
  });

  it('reads the test settings: netns, kubeconfig, a loopback metrics address', () => {
    const { config } = parseSpeakerConfig({
      NODE_NAME: 'a',
      L2LB_NETNS: 'l2t-n1',
      KUBECONFIG: '/tmp/kc',
      METRICS_ADDRESS: '127.0.0.1:31234',
      LOG_LEVEL: 'Debug',
    });
    expect(config).toEqual(
      expect.objectContaining({
        netns: 'l2t-n1',
        kubeconfig: '/tmp/kc',
        metricsHost: '127.0.0.1',
        metricsPort: 31234,
        logLevel: 'debug',
      }),
    );
  });

  it('names the variable of a bad value', () => {
    expect(parseSpeakerConfig({ NODE_NAME: 'a', GARP_COUNT: 'many' }).errors).toEqual([
      'GARP_COUNT="many": want a number >= 1',
    ]);
  });
});

describe('parsing API objects', () => {
  it('reads an L2LBService as kubectl shows it', () => {
    const read = readSpeakerIndex({
      apiVersion: 'internal.network.deckhouse.io/v1alpha1',
      kind: 'L2LBService',
      metadata: {
        name: 'web-public-0',
        namespace: 'shop',
        labels: { 'network.deckhouse.io/l2-load-balancer': 'public' },
      },
      spec: {
        loadBalancerIP: '2001:DB8::0a',
        nodes: ['node-a', 'node-b'],
        serviceRef: { name: 'web', namespace: 'shop' },
        ports: [
          { name: 'https', port: 443, protocol: 'TCP', targetPort: 8443 },
          { name: 'dns', port: 53, protocol: 'UDP' },
        ],
      },
      status: {
        loadBalancer: { ingress: [{ ip: '2001:db8::a' }] },
        announcingNode: 'node-a',
        announcedSince: '2025-01-01T00:00:00Z',
        conditions: [
          {
            type: 'Announced',
            status: 'True',
            reason: 'Announced',
            message: 'm',
            lastTransitionTime: '2025-01-01T00:00:00Z',
          },
        ],
      },
    });
    expect(read?.problems).toEqual([]);
    expect(read?.index).toEqual({
      key: 'shop/web-public-0',
      namespace: 'shop',
      name: 'web-public-0',
      address: '2001:db8::a',
      nodes: ['node-a', 'node-b'],
      l2lbName: 'public',
      createdAt: '',
      service: { namespace: 'shop', name: 'web' },
      ports: [
        { port: 443, protocol: 'TCP' },
        { port: 53, protocol: 'UDP' },
      ],
      status: expect.objectContaining({
        announcingNode: 'node-a',
        ingress: ['2001:db8::a'],
        announced: expect.objectContaining({ status: 'True' }),
      }),
    });
  });

  it('refuses a malformed L2LBService, naming the object and every bad field, without throwing', () => {
    const read = readSpeakerIndex({
      metadata: { name: 'web-public-0', namespace: 'shop' },
      spec: {
        loadBalancerIP: ['192.0.2.10'],
        nodes: 'node-a',
        ports: [{ port: '443' }, { port: 70_000 }, { port: 80, protocol: 'ICMP' }, null, { port: 8080 }],
      },
      status: 'announced',
    });
    expect(read?.problems).toEqual([
      'L2LBService shop/web-public-0: spec.loadBalancerIP: want an IP address, got ["192.0.2.10"]',
      'L2LBService shop/web-public-0: spec.nodes: want a list of node names, got "node-a"',
      'L2LBService shop/web-public-0: spec.ports[0].port: want a port number (1-65535), got "443"',
      'L2LBService shop/web-public-0: spec.ports[1].port: want a port number (1-65535), got 70000',
      'L2LBService shop/web-public-0: spec.ports[2].protocol: want TCP, UDP or SCTP, got "ICMP"',
      'L2LBService shop/web-public-0: spec.ports[3].port: want a port number (1-65535), got nothing',
    ]);
    expect(read?.index).toEqual(
      expect.objectContaining({ address: '', nodes: [], ports: [{ port: 8080, protocol: 'TCP' }] }),
    );
  });

  it('refuses a loadBalancerIP that is no address, and reads an absent or empty one as none yet', () => {
    expect(
      readSpeakerIndex({ metadata: { name: 'x', namespace: 'n' }, spec: { loadBalancerIP: 'not-an-ip' } })
        ?.problems,
    ).toEqual(['L2LBService n/x: spec.loadBalancerIP: want an IP address, got "not-an-ip"']);
    for (const spec of [{}, { loadBalancerIP: '' }]) {
      const read = readSpeakerIndex({ metadata: { name: 'x', namespace: 'n' }, spec });
      expect(read?.problems).toEqual([]);
      expect(read?.index.address).toBe('');
    }
  });

  it('quotes a huge bad value short: a tenant cannot blow up the status message', () => {
    const read = readSpeakerIndex({
      metadata: { name: 'x', namespace: 'n' },
      spec: { loadBalancerIP: 'x'.repeat(40_000) },
    });
    expect(read?.problems[0]?.length).toBeLessThan(200);
    expect(read?.problems[0]).toContain('(40000 characters)');
  });

  it('gives the control loop the very same reading, problems included (one parser for both)', () => {
    const object = {
      metadata: {
        name: 'web-public-0',
        namespace: 'shop',
        labels: { 'network.deckhouse.io/parent-service': 'web' },
      },
      spec: { loadBalancerIP: '192.0.2.010', nodes: ['node-a', 7], serviceRef: { name: 'web' } },
    };
    const shared = readL2LBService(l2lbServiceFields(object));
    const speaker = readSpeakerIndex(object);
    expect(shared.ok && shared.value.problems).toEqual(speaker?.problems);
    expect(speaker?.problems).toEqual([
      'L2LBService shop/web-public-0: spec.loadBalancerIP: want an IP address, got "192.0.2.010"',
      'L2LBService shop/web-public-0: spec.nodes[1]: want a node name, got 7',
    ]);
    expect(shared.ok && shared.value.service).toEqual(speaker?.index.service);
  });

  it('reads speaker Leases only, and a Lease without a holder as released', () => {
    const meta = { name: 'l2lb-speaker-node-a', namespace: 'd8-l2-load-balancer' };
    expect(
      readSpeakerLease({
        metadata: meta,
        spec: { holderIdentity: 'node-a', renewTime: '2025-01-01T00:00:00.000000Z', leaseDurationSeconds: 3 },
      }),
    ).toEqual({
      node: 'node-a',
      renewTime: '2025-01-01T00:00:00.000000Z',
      durationSeconds: 3,
    });
    expect(
      readSpeakerLease({
        metadata: meta,
        spec: { renewTime: '2025-01-01T00:00:00.000000Z', leaseDurationSeconds: 3 },
      }),
    ).toEqual({ node: 'node-a', durationSeconds: 3 });
    expect(readSpeakerLease({ metadata: { name: 'kube-scheduler' }, spec: {} })).toBeUndefined();
    // The prefix alone names no node.
    expect(readSpeakerLease({ metadata: { name: 'l2lb-speaker-' }, spec: {} })).toBeUndefined();
  });

  it('reads an L2LoadBalancer pool of CIDRs, ranges and single addresses', () => {
    const b = readSpeakerBalancer({
      metadata: { name: 'public' },
      spec: {
        addressPool: ['192.0.2.0/28', '198.51.100.10-198.51.100.20', '203.0.113.7', '2001:db8::/120'],
        interfaces: ['eth1'],
      },
    });
    expect(b?.interfaces).toEqual(['eth1']);
    for (const a of ['192.0.2.14', '198.51.100.20', '203.0.113.7', '2001:db8::ff'])
      expect(poolContains(b!.pool, a)).toBe(true);
    for (const a of [
      '192.0.2.0',
      '192.0.2.15',
      '192.0.2.16',
      '198.51.100.21',
      '203.0.113.8',
      '2001:db8::100',
    ])
      expect(poolContains(b!.pool, a)).toBe(false);
  });

  it('refuses pool entries reaching into non-unicast space and impossible interface names, naming each', () => {
    const b = readSpeakerBalancer({
      metadata: { name: 'public' },
      spec: {
        addressPool: ['0.0.0.0/0', '224.0.0.0/24', '127.0.0.0/30', 'fe80::/64', '198.51.100.0/28'],
        interfaces: ['eth1', 'eth1; reboot', '../x', 'averyveryverylongname', '-v', ''],
      },
    });
    expect(b?.refusedEntries?.map((e) => e.entry)).toEqual([
      '0.0.0.0/0',
      '224.0.0.0/24',
      '127.0.0.0/30',
      'fe80::/64',
    ]);
    expect(b?.refusedEntries?.[0]?.message).toContain('never announced');
    expect(poolContains(b!.pool, '198.51.100.5')).toBe(true);
    expect(poolContains(b!.pool, '192.0.2.10')).toBe(false);
    expect(b?.interfaces).toEqual(['eth1']);
    expect(b?.invalidInterfaces).toEqual(['eth1; reboot', '../x', 'averyveryverylongname', '-v', '']);
  });

  it('skips invalid pool entries and writes addresses canonically', () => {
    expect(parseSpeakerPool(['nonsense', '192.0.2.9-192.0.2.1', '2001:db8::1-192.0.2.1']).entries).toEqual(
      [],
    );
    expect(canonicalAddress('192.0.2.01')).toBeUndefined();
    expect(canonicalAddress('2001:0db8:0000::0001')).toBe('2001:db8::1');
  });
});

describe('choosing the interface', () => {
  const table: RouteTable = parseIpAddrJsonTable();
  function parseIpAddrJsonTable(): RouteTable {
    const links = parseIpAddrJson(
      JSON.stringify([
        {
          ifname: 'lo',
          addr_info: [
            { local: '127.0.0.1', prefixlen: 8 },
            { local: '192.0.2.77', prefixlen: 32 },
          ],
        },
        {
          ifname: 'eth0',
          addr_info: [
            { local: '10.0.0.5', prefixlen: 24 },
            { local: '192.0.2.200', prefixlen: 32, metric: 7474 },
            { local: '192.0.2.201', prefixlen: 32 },
            { local: '192.0.2.202', prefixlen: 32, metric: 100 },
          ],
        },
        {
          ifname: 'eth1',
          addr_info: [
            { local: '192.0.2.10', prefixlen: 24 },
            { local: '2001:db8::10', prefixlen: 64 },
          ],
        },
      ]),
    );
    return { links, defaultV4: 'eth0', defaultV6: 'eth0' };
  }

  it('takes the interface whose subnet holds the address', () => {
    expect(chooseInterface('192.0.2.201', [], table)).toBe('eth1');
    expect(chooseInterface('2001:db8::201', [], table)).toBe('eth1');
  });

  it('falls back to the default-route interface', () => {
    expect(chooseInterface('203.0.113.1', [], table)).toBe('eth0');
  });

  it('keeps to the configured interfaces, preferring the one whose subnet holds the address', () => {
    expect(chooseInterface('203.0.113.1', ['eth9', 'eth1'], table)).toBe('eth1');
    expect(chooseInterface('10.0.0.9', ['eth1', 'eth0'], table)).toBe('eth0');
    expect(chooseInterface('10.0.0.9', ['eth9'], table)).toBeUndefined();
  });

  it('finds the marked host-length addresses off loopback (an earlier run’s), and nobody else’s', () => {
    expect(ownAddresses(table)).toEqual([{ address: '192.0.2.200', iface: 'eth0' }]);
  });
});

describe('reading an IPv6 probe (ndisc6 -m -n -r 1 -w 1000, output as measured)', () => {
  it('reads an answer as a duplicate, with the MAC of the host that answered', () => {
    const out =
      'Soliciting 2001:db8::10 (2001:db8::10) on eth0...\nTarget link-layer address: B6:8F:B6:5C:C9:42\n from 2001:db8::10\n';
    expect(parseNdiscProbe(out, 0)).toEqual({ duplicate: true, mac: 'b6:8f:b6:5c:c9:42' });
  });

  it('reads no response as no duplicate, and anything else as a failure', () => {
    const none = 'Soliciting 2001:db8::10 (2001:db8::10) on eth0...\nTimed out.\nNo response.\n';
    expect(parseNdiscProbe(none, 2)).toEqual({ duplicate: false });
    expect(parseNdiscProbe('eth9: No such device\n', 1)).toBeInstanceOf(Error);
  });
});

describe('reading a duplicate address probe (iputils arping -D -c 1 -w 1, output as measured)', () => {
  it('reads no reply with exit 0 as no duplicate', () => {
    const out =
      'ARPING 192.0.2.50 from 0.0.0.0 eth0\nSent 1 probes (1 broadcast(s))\nReceived 0 response(s)\n';
    expect(parseArpingDad(out, 0)).toEqual({ duplicate: false });
  });

  it('reads a reply as a duplicate, with the MAC of the host that answered', () => {
    const out =
      'ARPING 192.0.2.50 from 0.0.0.0 eth0\n' +
      'Unicast reply from 192.0.2.50 [C6:50:7B:F8:D1:04]  0.528ms\n' +
      'Sent 1 probes (1 broadcast(s))\nReceived 1 response(s)\n';
    expect(parseArpingDad(out, 1)).toEqual({ duplicate: true, mac: 'c6:50:7b:f8:d1:04' });
  });

  it('reads exit 1 without a reply (nothing sent: no carrier) and exit 2 as failures, not as duplicates', () => {
    const none =
      'ARPING 192.0.2.50 from 0.0.0.0 eth0\nSent 0 probes (0 broadcast(s))\nReceived 0 response(s)\n';
    expect(parseArpingDad(none, 1)).toEqual(new Error('no probe went out (is the link up?)'));
    expect(parseArpingDad('arping: Device nope0 not available.\n', 2)).toEqual(
      new Error('arping: Device nope0 not available.'),
    );
    expect(parseArpingDad('', undefined)).toEqual(new Error('exit code none'));
  });
});
