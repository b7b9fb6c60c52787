import { parsePool, type Pool } from '../../lib/address/pool';
import {
  allocate,
  type Allocation,
  type AllocationInput,
  type AllocationRequest,
  type ExistingAllocation,
} from '../../lib/allocation/allocate';

// A cluster with two L2LoadBalancers:
//   public:   addressPool [192.0.2.0/29]          -> 192.0.2.1 .. 192.0.2.6
//   internal: addressPool [198.51.100.10-198.51.100.12, 2001:db8::/126]
const POOLS: ReadonlyMap<string, Pool> = new Map([
  ['public', parsePool(['192.0.2.0/29']).pool],
  ['internal', parsePool(['198.51.100.10-198.51.100.12', '2001:db8::/126']).pool],
]);

const OLD = '2024-03-01T10:00:00Z';
const NEWER = '2024-05-01T10:00:00Z';
const NEWEST = '2024-06-01T10:00:00Z';

/** A Service annotated `l2-load-balancer-name: public`, created OLD, one address, unless told. */
function svc(serviceKey: string, fields: Partial<AllocationRequest> = {}): AllocationRequest {
  return { serviceKey, l2lbName: 'public', count: 1, requested: [], createdAt: OLD, ...fields };
}

/** An existing L2LBService `spec.loadBalancerIP`. */
function held(
  serviceKey: string,
  index: number,
  address: string,
  fields: Partial<ExistingAllocation> = {},
): ExistingAllocation {
  return { serviceKey, l2lbName: 'public', index, address, createdAt: OLD, ...fields };
}

function run(requests: AllocationRequest[], existing: ExistingAllocation[] = [], pools = POOLS) {
  return allocate({ pools, requests, existing });
}

/** `serviceKey[index] = address` lines: easy to read in a failing diff. */
function table(allocations: readonly Allocation[]): string[] {
  return allocations.map((a) => `${a.serviceKey}[${a.index}]@${a.l2lbName} = ${a.address ?? '-'}`);
}

describe('allocate: new Services', () => {
  it('gives a new Service the lowest free addresses in index order, skipping the network address', () => {
    const { allocations, problems } = run([svc('shop/web', { count: 3 })]);
    expect(table(allocations)).toEqual([
      'shop/web[0]@public = 192.0.2.1',
      'shop/web[1]@public = 192.0.2.2',
      'shop/web[2]@public = 192.0.2.3',
    ]);
    expect(problems).toEqual([]);
  });

  it('fills the holes left by other Services first', () => {
    const { allocations } = run(
      [svc('shop/web', { count: 2 }), svc('shop/api')],
      [held('shop/api', 0, '192.0.2.1'), held('shop/gone', 0, '192.0.2.3')],
    );
    expect(table(allocations)).toEqual([
      'shop/api[0]@public = 192.0.2.1',
      'shop/web[0]@public = 192.0.2.2',
      'shop/web[1]@public = 192.0.2.4',
    ]);
  });

  it('serves older Services first, so the newest goes without when the pool runs out', () => {
    const { allocations, problems } = run([
      svc('b/new', { count: 3, createdAt: NEWER }),
      svc('a/old', { count: 4, createdAt: OLD }),
    ]);
    expect(table(allocations)).toEqual([
      'a/old[0]@public = 192.0.2.1',
      'a/old[1]@public = 192.0.2.2',
      'a/old[2]@public = 192.0.2.3',
      'a/old[3]@public = 192.0.2.4',
      'b/new[0]@public = 192.0.2.5',
      'b/new[1]@public = 192.0.2.6',
      'b/new[2]@public = -',
    ]);
    expect(problems).toEqual([
      {
        serviceKey: 'b/new',
        kind: 'PoolExhausted',
        message: '2 of 3 public IPs assigned; pool public has no free address',
      },
    ]);
  });

  it('allocates from an IPv6 part of a pool once the IPv4 part is used up', () => {
    const { allocations } = run([svc('shop/web', { l2lbName: 'internal', count: 5 })]);
    expect(allocations.map((a) => a.address)).toEqual([
      '198.51.100.10',
      '198.51.100.11',
      '198.51.100.12',
      '2001:db8::',
      '2001:db8::1',
    ]);
  });

  it('gives a Service with count 0 nothing and reports nothing', () => {
    expect(run([svc('shop/web', { count: 0 })])).toEqual({ allocations: [], problems: [] });
  });
});

describe('allocate: stability', () => {
  it('keeps an index on its address even when a lower address is free', () => {
    const { allocations, problems } = run(
      [svc('shop/web', { count: 2 })],
      [held('shop/web', 0, '192.0.2.5')],
    );
    expect(table(allocations)).toEqual(['shop/web[0]@public = 192.0.2.5', 'shop/web[1]@public = 192.0.2.1']);
    expect(problems).toEqual([]);
  });

  it('recognises an existing address written in another form', () => {
    const { allocations } = run(
      [svc('shop/web', { l2lbName: 'internal' })],
      [held('shop/web', 0, '2001:DB8:0::2', { l2lbName: 'internal' })],
    );
    expect(allocations[0]?.address).toBe('2001:db8::2');
  });

  it('releases the indices above a reduced count and does not hand their addresses out in the same run', () => {
    const { allocations } = run(
      [svc('shop/web', { count: 1 }), svc('shop/api', { createdAt: NEWER })],
      [held('shop/web', 0, '192.0.2.1'), held('shop/web', 1, '192.0.2.2')],
    );
    expect(table(allocations)).toEqual(['shop/api[0]@public = 192.0.2.3', 'shop/web[0]@public = 192.0.2.1']);
  });

  it('never hands out an address still held by a Service that is being deleted', () => {
    const { allocations } = run([svc('shop/web')], [held('shop/deleted', 0, '192.0.2.1')]);
    expect(allocations[0]?.address).toBe('192.0.2.2');
  });

  it('gives a new address to an index whose address left the pool, and says so', () => {
    const { allocations, problems } = run([svc('shop/web')], [held('shop/web', 0, '203.0.113.7')]);
    expect(table(allocations)).toEqual(['shop/web[0]@public = 192.0.2.1']);
    expect(problems).toEqual([
      {
        serviceKey: 'shop/web',
        kind: 'AddressLeftPool',
        index: 0,
        address: '203.0.113.7',
        message:
          'address 203.0.113.7 of index 0 is no longer in the pool of L2LoadBalancer public; index 0 gets a new address',
      },
    ]);
  });

  it('releases the addresses of a Service that moved to another L2LoadBalancer, and holds them for this run', () => {
    const { allocations } = run(
      [svc('shop/web', { l2lbName: 'internal' }), svc('shop/api', { createdAt: NEWER })],
      [held('shop/web', 0, '192.0.2.1')],
    );
    expect(table(allocations)).toEqual([
      'shop/api[0]@public = 192.0.2.2',
      'shop/web[0]@internal = 198.51.100.10',
    ]);
  });

  it('keeps the address still in the pool when two L2LBService objects hold one index', () => {
    const { allocations, problems } = run(
      [svc('shop/web')],
      [held('shop/web', 0, '10.9.9.9'), held('shop/web', 0, '192.0.2.5')],
    );
    expect(table(allocations)).toEqual(['shop/web[0]@public = 192.0.2.5']);
    expect(problems).toEqual([]);
  });

  it('ignores an existing L2LBService without an address or with an unreadable one', () => {
    const { allocations, problems } = run(
      [svc('shop/web', { count: 2 })],
      [held('shop/web', 0, ''), held('shop/web', 1, 'garbage')],
    );
    expect(table(allocations)).toEqual(['shop/web[0]@public = 192.0.2.1', 'shop/web[1]@public = 192.0.2.2']);
    expect(problems).toEqual([]);
  });
});

describe('allocate: conflicts', () => {
  it('lets the older holder keep an address held twice and gives the other a new one', () => {
    const { allocations, problems } = run(
      [svc('team-b/api', { createdAt: NEWER }), svc('team-a/web', { createdAt: OLD })],
      [
        held('team-b/api', 0, '192.0.2.4', { createdAt: NEWER }),
        held('team-a/web', 0, '192.0.2.4', { createdAt: OLD }),
      ],
    );
    expect(table(allocations)).toEqual([
      'team-a/web[0]@public = 192.0.2.4',
      'team-b/api[0]@public = 192.0.2.1',
    ]);
    expect(problems).toEqual([
      {
        serviceKey: 'team-b/api',
        kind: 'AddressConflict',
        index: 0,
        address: '192.0.2.4',
        message:
          'address 192.0.2.4 of index 0 is also held by Service team-a/web, which is older and keeps it; index 0 gets a new address',
      },
    ]);
  });

  it('breaks a tie in age by serviceKey', () => {
    const { allocations } = run(
      [svc('b/y'), svc('a/x')],
      [held('b/y', 0, '192.0.2.4'), held('a/x', 0, '192.0.2.4')],
    );
    expect(table(allocations)).toEqual(['a/x[0]@public = 192.0.2.4', 'b/y[0]@public = 192.0.2.1']);
  });

  it('does not let a holder that is being released take the address from one that stays', () => {
    const { allocations, problems } = run(
      [svc('a/old', { count: 1 }), svc('b/new', { createdAt: NEWER })],
      [
        held('a/old', 0, '192.0.2.1'),
        held('a/old', 1, '192.0.2.4'),
        held('b/new', 0, '192.0.2.4', { createdAt: NEWER }),
      ],
    );
    expect(table(allocations)).toEqual(['a/old[0]@public = 192.0.2.1', 'b/new[0]@public = 192.0.2.4']);
    expect(problems).toEqual([]);
  });

  it('keeps the lower index when one Service holds an address at two indices', () => {
    const { allocations, problems } = run(
      [svc('shop/web', { count: 2 })],
      [held('shop/web', 1, '192.0.2.3'), held('shop/web', 0, '192.0.2.3')],
    );
    expect(table(allocations)).toEqual(['shop/web[0]@public = 192.0.2.3', 'shop/web[1]@public = 192.0.2.1']);
    expect(problems.map((p) => p.message)).toEqual([
      'address 192.0.2.3 of index 1 is also held by index 0 of this Service, which is older and keeps it; index 1 gets a new address',
    ]);
  });
});

describe('allocate: requested addresses (load-balancer-ips)', () => {
  it('gives each index its requested address and the lowest free address to the rest', () => {
    const { allocations, problems } = run([
      svc('shop/web', { count: 3, requested: ['192.0.2.6', '192.0.2.4'] }),
    ]);
    expect(table(allocations)).toEqual([
      'shop/web[0]@public = 192.0.2.6',
      'shop/web[1]@public = 192.0.2.4',
      'shop/web[2]@public = 192.0.2.1',
    ]);
    expect(problems).toEqual([]);
  });

  it('takes requested addresses in any textual form, trimmed', () => {
    const { allocations } = run([
      svc('shop/web', { l2lbName: 'internal', count: 2, requested: [' 2001:DB8::0003 ', '198.51.100.12'] }),
    ]);
    expect(allocations.map((a) => a.address)).toEqual(['2001:db8::3', '198.51.100.12']);
  });

  it('treats a blank entry (a trailing or doubled comma) as no request for that index', () => {
    const { allocations, problems } = run([svc('shop/web', { count: 3, requested: ['', '192.0.2.6', ''] })]);
    expect(allocations.map((a) => a.address)).toEqual(['192.0.2.1', '192.0.2.6', '192.0.2.2']);
    expect(problems).toEqual([]);
  });

  it('ignores requested entries beyond the count', () => {
    const { allocations } = run([svc('shop/web', { count: 1, requested: ['192.0.2.5', '192.0.2.6'] })]);
    expect(table(allocations)).toEqual(['shop/web[0]@public = 192.0.2.5']);
  });

  it('switches an index to its requested address and holds the old one for this run', () => {
    const { allocations, problems } = run(
      [svc('shop/web', { requested: ['192.0.2.6'] }), svc('shop/api', { createdAt: NEWER })],
      [held('shop/web', 0, '192.0.2.1')],
    );
    expect(table(allocations)).toEqual(['shop/api[0]@public = 192.0.2.2', 'shop/web[0]@public = 192.0.2.6']);
    expect(problems).toEqual([]);
  });

  it.each([
    [
      'not an address',
      '10.0.0.300',
      'RequestedAddressInvalid',
      'load-balancer-ips entry 0 "10.0.0.300" is not an IPv4 or IPv6 address; index 0 gets no address until this is fixed',
    ],
    [
      'outside the pool',
      '203.0.113.1',
      'RequestedAddressOutsidePool',
      'load-balancer-ips entry 0 "203.0.113.1" is not in the pool of L2LoadBalancer public; index 0 gets no address until this is fixed',
    ],
    [
      'the network address of the pool CIDR',
      '192.0.2.0',
      'RequestedAddressOutsidePool',
      'load-balancer-ips entry 0 "192.0.2.0" is not in the pool of L2LoadBalancer public; index 0 gets no address until this is fixed',
    ],
    [
      'held by another Service',
      '192.0.2.2',
      'RequestedAddressTaken',
      'load-balancer-ips entry 0 "192.0.2.2" is already assigned to Service other/app; index 0 gets no address until this is fixed',
    ],
  ])(
    'refuses a requested address that is %s, by name, and the other indices proceed',
    (_what, requested, kind, message) => {
      const { allocations, problems } = run(
        [svc('shop/web', { count: 2, requested: [requested] }), svc('other/app', { createdAt: NEWEST })],
        [held('other/app', 0, '192.0.2.2', { createdAt: NEWEST })],
      );
      expect(table(allocations)).toEqual([
        'other/app[0]@public = 192.0.2.2',
        'shop/web[0]@public = -',
        'shop/web[1]@public = 192.0.2.1',
      ]);
      expect(problems).toEqual([
        {
          serviceKey: 'shop/web',
          kind,
          index: 0,
          ...(kind === 'RequestedAddressInvalid' ? {} : { address: requested }),
          message,
        },
      ]);
    },
  );

  it('keeps the address an index already has when its requested address is refused', () => {
    const { allocations, problems } = run(
      [svc('shop/web', { requested: ['nonsense'] })],
      [held('shop/web', 0, '192.0.2.3')],
    );
    expect(table(allocations)).toEqual(['shop/web[0]@public = 192.0.2.3']);
    expect(problems.map((p) => p.message)).toEqual([
      'load-balancer-ips entry 0 "nonsense" is not an IPv4 or IPv6 address; index 0 keeps 192.0.2.3',
    ]);
  });

  it('refuses an address repeated in the list, at the later index', () => {
    const { allocations, problems } = run([
      svc('shop/web', { count: 2, requested: ['192.0.2.5', '192.0.2.5'] }),
    ]);
    expect(table(allocations)).toEqual(['shop/web[0]@public = 192.0.2.5', 'shop/web[1]@public = -']);
    expect(problems).toEqual([
      {
        serviceKey: 'shop/web',
        kind: 'RequestedAddressDuplicate',
        index: 1,
        address: '192.0.2.5',
        message:
          'load-balancer-ips entry 1 "192.0.2.5" repeats entry 0; index 1 gets no address until this is fixed',
      },
    ]);
  });

  it('counts two spellings of one IPv6 address as a repeat', () => {
    const { problems } = run([
      svc('shop/web', { l2lbName: 'internal', count: 2, requested: ['2001:db8::1', '2001:DB8:0:0::1'] }),
    ]);
    expect(problems.map((p) => p.kind)).toEqual(['RequestedAddressDuplicate']);
  });

  it('lets the holder keep a requested address even when the Service asking for it is older', () => {
    const { allocations, problems } = run(
      [svc('a/old', { requested: ['192.0.2.2'], createdAt: OLD }), svc('b/new', { createdAt: NEWEST })],
      [held('b/new', 0, '192.0.2.2', { createdAt: NEWEST })],
    );
    expect(table(allocations)).toEqual(['a/old[0]@public = -', 'b/new[0]@public = 192.0.2.2']);
    expect(problems.map((p) => p.kind)).toEqual(['RequestedAddressTaken']);
  });

  it('gives a free address requested by two Services to the older one', () => {
    const { allocations, problems } = run([
      svc('a/new', { requested: ['192.0.2.6'], createdAt: NEWER }),
      svc('z/old', { requested: ['192.0.2.6'], createdAt: OLD }),
    ]);
    expect(table(allocations)).toEqual(['a/new[0]@public = -', 'z/old[0]@public = 192.0.2.6']);
    expect(problems.map((p) => `${p.serviceKey} ${p.kind}: ${p.message}`)).toEqual([
      'a/new RequestedAddressTaken: load-balancer-ips entry 0 "192.0.2.6" is already assigned to Service z/old; index 0 gets no address until this is fixed',
    ]);
  });

  it('refuses an address still held by a Service that is being deleted; it is free in the next run', () => {
    const { allocations, problems } = run(
      [svc('shop/web', { requested: ['192.0.2.2'] })],
      [held('shop/deleted', 0, '192.0.2.2')],
    );
    expect(table(allocations)).toEqual(['shop/web[0]@public = -']);
    expect(problems.map((p) => p.message)).toEqual([
      'load-balancer-ips entry 0 "192.0.2.2" is already assigned to Service shop/deleted; index 0 gets no address until this is fixed',
    ]);
    expect(table(run([svc('shop/web', { requested: ['192.0.2.2'] })]).allocations)).toEqual([
      'shop/web[0]@public = 192.0.2.2',
    ]);
  });

  it('swaps two addresses of one Service when the list is reordered', () => {
    const { allocations, problems } = run(
      [svc('shop/web', { count: 2, requested: ['192.0.2.2', '192.0.2.1'] })],
      [held('shop/web', 0, '192.0.2.1'), held('shop/web', 1, '192.0.2.2')],
    );
    expect(table(allocations)).toEqual(['shop/web[0]@public = 192.0.2.2', 'shop/web[1]@public = 192.0.2.1']);
    expect(problems).toEqual([]);
  });

  it('moves an address along a chain of indices of one Service', () => {
    const { allocations } = run(
      [svc('shop/web', { count: 2, requested: ['192.0.2.2', '192.0.2.5'] })],
      [held('shop/web', 0, '192.0.2.1'), held('shop/web', 1, '192.0.2.2')],
    );
    expect(table(allocations)).toEqual(['shop/web[0]@public = 192.0.2.2', 'shop/web[1]@public = 192.0.2.5']);
  });

  it('refuses an address another index of the same Service keeps, naming that index', () => {
    const { allocations, problems } = run(
      [svc('shop/web', { count: 2, requested: ['192.0.2.2'] })],
      [held('shop/web', 0, '192.0.2.1'), held('shop/web', 1, '192.0.2.2')],
    );
    expect(table(allocations)).toEqual(['shop/web[0]@public = 192.0.2.1', 'shop/web[1]@public = 192.0.2.2']);
    expect(problems.map((p) => p.message)).toEqual([
      'load-balancer-ips entry 0 "192.0.2.2" is held by index 1 of this Service, which keeps it; index 0 keeps 192.0.2.1',
    ]);
  });

  it('lets a Service request the address it releases from a higher index in the same run', () => {
    const { allocations, problems } = run(
      [svc('shop/web', { count: 1, requested: ['192.0.2.2'] })],
      [held('shop/web', 0, '192.0.2.1'), held('shop/web', 1, '192.0.2.2')],
    );
    expect(table(allocations)).toEqual(['shop/web[0]@public = 192.0.2.2']);
    expect(problems).toEqual([]);
  });
});

describe('allocate: invalid input keeps what a Service has', () => {
  it('keeps every existing address of a Service whose annotations are invalid, allocates and releases nothing', () => {
    const { allocations, problems } = run(
      [svc('shop/web', { count: 1, keepOnly: true })],
      [held('shop/web', 0, '192.0.2.3'), held('shop/web', 4, '192.0.2.5')],
    );
    expect(table(allocations)).toEqual(['shop/web[0]@public = 192.0.2.3', 'shop/web[4]@public = 192.0.2.5']);
    expect(problems).toEqual([]);
  });

  it('gives a new Service with invalid annotations nothing', () => {
    expect(run([svc('shop/web', { count: 2, keepOnly: true })])).toEqual({ allocations: [], problems: [] });
  });

  it('treats a count that is not a non-negative integer as invalid input', () => {
    const { allocations } = run([svc('shop/web', { count: 1.5 })], [held('shop/web', 0, '192.0.2.3')]);
    expect(table(allocations)).toEqual(['shop/web[0]@public = 192.0.2.3']);
  });

  it('keeps the addresses of a Service whose L2LoadBalancer is unknown and reports it', () => {
    const { allocations, problems } = run(
      [svc('shop/web', { l2lbName: 'gone', count: 2 })],
      [held('shop/web', 0, '192.0.2.3', { l2lbName: 'gone' })],
    );
    expect(table(allocations)).toEqual(['shop/web[0]@gone = 192.0.2.3']);
    expect(problems).toEqual([
      {
        serviceKey: 'shop/web',
        kind: 'UnknownPool',
        message:
          'L2LoadBalancer gone does not exist or has no usable pool; the Service keeps its addresses and gets no new ones until it does',
      },
    ]);
  });

  it('still never lets a Service with invalid input keep an address an older Service holds', () => {
    const { allocations, problems } = run(
      [svc('a/old', { createdAt: OLD }), svc('b/broken', { keepOnly: true, createdAt: NEWER })],
      [held('a/old', 0, '192.0.2.3'), held('b/broken', 0, '192.0.2.3', { createdAt: NEWER })],
    );
    expect(table(allocations)).toEqual(['a/old[0]@public = 192.0.2.3']);
    expect(problems.map((p) => p.message)).toEqual([
      "address 192.0.2.3 of index 0 is also held by Service a/old, which is older and keeps it; index 0 gets no new address while the Service's input is invalid",
    ]);
  });
});

describe('allocate: shape of the result', () => {
  it('sorts allocations by serviceKey, then index, whatever the input order', () => {
    const input: AllocationInput = {
      pools: POOLS,
      requests: [svc('z/last', { count: 2 }), svc('a/first', { count: 2 })],
      existing: [],
    };
    const { allocations } = allocate(input);
    expect(allocations.map((a) => `${a.serviceKey}[${a.index}]`)).toEqual([
      'a/first[0]',
      'a/first[1]',
      'z/last[0]',
      'z/last[1]',
    ]);
  });

  it('never gives one address to two Services when two pools overlap', () => {
    const overlapping = new Map([
      ['public', parsePool(['192.0.2.1-192.0.2.2']).pool],
      ['other', parsePool(['192.0.2.2-192.0.2.3']).pool],
    ]);
    const { allocations } = run(
      [svc('a/x', { count: 2 }), svc('b/y', { l2lbName: 'other', count: 2 })],
      [],
      overlapping,
    );
    expect(table(allocations)).toEqual([
      'a/x[0]@public = 192.0.2.1',
      'a/x[1]@public = -',
      'b/y[0]@other = 192.0.2.2',
      'b/y[1]@other = 192.0.2.3',
    ]);
  });

  it('handles a Service passed twice by taking the first by L2LoadBalancer name', () => {
    const { allocations } = run([
      svc('shop/web', { l2lbName: 'public' }),
      svc('shop/web', { l2lbName: 'internal' }),
    ]);
    expect(table(allocations)).toEqual(['shop/web[0]@internal = 198.51.100.10']);
  });
});
