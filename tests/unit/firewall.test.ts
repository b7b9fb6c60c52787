import {
  FIREWALL_TABLE,
  filteredAddresses,
  firewallRemoval,
  firewallRuleset,
  type FilteredAddress,
} from '../../lib/speaker/firewall';
import type { SpeakerIndex } from '../../lib/speaker/types';

// L2LBServices as `kubectl get l2lbservices -o yaml` shows them, reduced to what the speaker reads.
const index = (name: string, address: string, ports: SpeakerIndex['ports']): SpeakerIndex => ({
  key: `shop/${name}`,
  namespace: 'shop',
  name,
  address,
  nodes: ['node-a', 'node-b'],
  l2lbName: 'public',
  createdAt: '2024-12-01T00:00:00Z',
  service: { namespace: 'shop', name: name.replace(/-public-\d+$/, '') },
  ports,
  status: { ingress: [] },
});

/** The elements of one set in a ruleset, as written. */
function elements(ruleset: string, set: string): string[] {
  const body = new RegExp(`set ${set} \\{[^}]*?elements = \\{ ([^}]*) \\}`).exec(ruleset);
  return body ? body[1]!.split(', ') : [];
}

/** The rules of one chain, trimmed (a chain closes with `  }` at its own indent). */
function chainLines(ruleset: string, chain: string): string[] {
  const start = ruleset.indexOf(`  chain ${chain} {\n`);
  const body = ruleset.slice(start, ruleset.indexOf('\n  }\n', start)).split('\n').slice(1);
  return body.map((l) => l.trim()).filter(Boolean);
}

describe('the addresses to filter', () => {
  const web = index('web-public-0', '192.0.2.10', [
    { port: 443, protocol: 'TCP' },
    { port: 443, protocol: 'UDP' },
  ]);
  const dns = index('dns-public-0', '2001:db8::53', [{ port: 53, protocol: 'UDP' }]);

  it('gives each held address the ports of the index it is held for', () => {
    expect(
      filteredAddresses(
        [
          { address: '192.0.2.10', indexKey: 'shop/web-public-0' },
          { address: '2001:db8::53', indexKey: 'shop/dns-public-0' },
        ],
        [web, dns],
      ),
    ).toEqual([
      { address: '192.0.2.10', ports: web.ports },
      { address: '2001:db8::53', ports: dns.ports },
    ]);
  });

  it('gives a leftover of an earlier run the ports of the index that names its address', () => {
    expect(filteredAddresses([{ address: '192.0.2.10' }], [dns, web])).toEqual([
      { address: '192.0.2.10', ports: web.ports },
    ]);
  });

  it('gives an address no index names no port at all (it answers ICMP only)', () => {
    expect(filteredAddresses([{ address: '192.0.2.99' }], [web, dns])).toEqual([
      { address: '192.0.2.99', ports: [] },
    ]);
  });

  it('prefers the recorded index over an older one that names the same address', () => {
    const other = index('api-public-0', '192.0.2.10', [{ port: 8443, protocol: 'TCP' }]);
    expect(
      filteredAddresses([{ address: '192.0.2.10', indexKey: 'shop/api-public-0' }], [web, other]),
    ).toEqual([{ address: '192.0.2.10', ports: other.ports }]);
  });
});

describe('the nftables ruleset', () => {
  const held: FilteredAddress[] = [
    {
      address: '192.0.2.10',
      ports: [
        { port: 443, protocol: 'TCP' },
        { port: 443, protocol: 'UDP' },
      ],
    },
    { address: '192.0.2.11', ports: [{ port: 3868, protocol: 'SCTP' }] },
    { address: '2001:db8::53', ports: [{ port: 53, protocol: 'UDP' }] },
  ];
  const rules = firewallRuleset(held);

  it("accepts exactly each address's own protocol/port pairs", () => {
    expect(elements(rules, 'service4')).toEqual([
      '192.0.2.10 . tcp . 443',
      '192.0.2.10 . udp . 443',
      '192.0.2.11 . sctp . 3868',
    ]);
    expect(elements(rules, 'service6')).toEqual(['2001:db8::53 . udp . 53']);
    expect(rules).toContain('ip daddr . meta l4proto . th dport @service4 accept');
    expect(rules).toContain('ip6 daddr . meta l4proto . th dport @service6 accept');
  });

  it('sends everything else to a held address to a drop, after ping and neighbour discovery', () => {
    expect(elements(rules, 'public4')).toEqual(['192.0.2.10', '192.0.2.11']);
    expect(elements(rules, 'public6')).toEqual(['2001:db8::53']);
    const lines = chainLines(rules, 'public');
    expect(lines.at(-1)).toBe('counter drop');
    expect(lines.find((l) => l.startsWith('icmp type'))).toContain('echo-request');
    const icmpv6 = lines.find((l) => l.startsWith('icmpv6 type')) ?? '';
    for (const type of ['echo-request', 'nd-neighbor-solicit', 'nd-neighbor-advert', 'packet-too-big'])
      expect(icmpv6).toContain(type);
  });

  it("filters only locally delivered traffic to the held addresses, leaving the node's own alone", () => {
    const hooks = [...rules.matchAll(/type filter hook (\w+)/g)].map((m) => m[1]);
    expect(hooks).toEqual(['input']);
    expect(rules).toContain('policy accept;');
    // The base chain sends only the held addresses on to the filter.
    expect(chainLines(rules, 'input').filter((l) => !l.startsWith('type '))).toEqual([
      'ip daddr @public4 jump public',
      'ip6 daddr @public6 jump public',
    ]);
  });

  it('replaces its own table in one transaction and names no other', () => {
    const tables = [...rules.matchAll(/^(?:delete )?table (\S+ \S+)/gm)].map((m) => m[0]);
    expect(tables).toEqual([
      `table inet ${FIREWALL_TABLE}`,
      `delete table inet ${FIREWALL_TABLE}`,
      `table inet ${FIREWALL_TABLE}`,
    ]);
    expect(rules).not.toMatch(/flush ruleset/);
  });

  it('writes the same text for the same addresses in any order, so an unchanged set is not applied again', () => {
    expect(firewallRuleset([...held].reverse())).toBe(rules);
    expect(firewallRuleset(held.slice(1))).not.toBe(rules);
  });

  it('keeps a valid table with empty sets when nothing is held', () => {
    const empty = firewallRuleset([]);
    expect(empty).not.toContain('elements');
    expect(empty).toContain('set public4 {');
    expect(empty).toContain('counter drop');
  });

  it('drops ports and addresses that cannot be valid instead of writing them into the ruleset', () => {
    const odd = firewallRuleset([
      {
        address: '192.0.2.12',
        ports: [
          { port: 0, protocol: 'TCP' },
          { port: 65536, protocol: 'UDP' },
          { port: 80.5, protocol: 'TCP' },
          { port: 22, protocol: 'ICMP' as 'TCP' },
        ],
      },
      { address: '192.0.2.13 } ; flush ruleset ; {', ports: [{ port: 80, protocol: 'TCP' }] },
    ]);
    expect(elements(odd, 'public4')).toEqual(['192.0.2.12']);
    expect(elements(odd, 'service4')).toEqual([]);
    expect(odd).not.toContain('flush ruleset');
  });

  it('removes its own table without failing when it is absent', () => {
    expect(firewallRemoval()).toBe(`table inet ${FIREWALL_TABLE}\ndelete table inet ${FIREWALL_TABLE}\n`);
  });
});
