import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import {
  canonicalAddress,
  decodeCanonicalIPv6,
  formatAddress,
  lowestFree,
  parseAddress,
  parseCanonical,
  parsePool,
  poolAddresses,
  findPoolOverlaps,
  poolContains,
  poolOverlaps,
  type Pool,
  type PoolEntry,
  type PoolEntryError,
  type PoolOverlap,
} from '../../lib/address/pool';

/** The pool of an `L2LoadBalancer.spec.addressPool`, failing the test on any entry error. */
function pool(...entries: string[]): Pool {
  const { pool: p, errors } = parsePool(entries);
  expect(errors).toEqual([]);
  return p;
}

function take<T>(gen: Iterable<T>, n: number): T[] {
  const out: T[] = [];
  for (const v of gen) {
    if (out.length === n) break;
    out.push(v);
  }
  return out;
}

const texts = (p: Pool): string[] => [...poolAddresses(p)].map(formatAddress);

describe('parseAddress', () => {
  it.each(['192.0.2.1', '0.0.0.0', '255.255.255.255', '10.0.0.1'])('accepts the IPv4 address %s', (text) => {
    expect(parseAddress(text)).toEqual({ family: 4, value: expect.any(BigInt) });
    expect(canonicalAddress(text)).toBe(text);
  });

  it.each([
    ['10.0.0.300', 'an octet above 255'],
    ['1.2.3', 'three parts'],
    ['1.2.3.4.5', 'five parts'],
    ['010.0.0.1', 'a leading zero (octal in inet_aton)'],
    ['10.0.0.01', 'a leading zero in the last octet'],
    ['0x0a.0.0.1', 'hexadecimal'],
    ['167772161', 'a bare 32-bit number'],
    [' 10.0.0.1', 'leading whitespace'],
    ['10.0.0.1 ', 'trailing whitespace'],
    ['10.0.0.1/32', 'a prefix'],
    ['10.0.0.-1', 'a sign'],
    ['', 'nothing'],
  ])('rejects %j (%s)', (text) => {
    expect(parseAddress(text)).toBeUndefined();
  });

  it.each([
    ['fe80::1%eth0', 'a zone id'],
    ['2001:db8::00001', 'a group of five digits'],
    ['1::2::3', 'two "::"'],
    ['1:2:3:4:5:6:7:8:9', 'nine groups'],
    [':::', 'three colons'],
    ['2001:db8::g', 'a non-hex digit'],
    ['::ffff:010.0.0.1', 'a leading zero in the IPv4 tail'],
    ['::ffff:1.2.3', 'a short IPv4 tail'],
    ['[2001:db8::1]', 'brackets'],
    ['2001:db8::1 ', 'trailing whitespace'],
  ])('rejects the IPv6 text %j (%s)', (text) => {
    expect(parseAddress(text)).toBeUndefined();
  });

  it.each([
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['::ffff:c000:201', '::ffff:192.0.2.1'],
    ['64:ff9b::192.0.2.1', '64:ff9b::c000:201'],
  ])('writes %s canonically as %s (RFC 5952)', (text, canonical) => {
    expect(canonicalAddress(text)).toBe(canonical);
  });

  it('round-trips every IPv4 address through format and parse', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), (n) => {
        const a = { family: 4 as const, value: BigInt(n) };
        expect(parseAddress(formatAddress(a))).toEqual(a);
      }),
      { numRuns: 200 },
    );
  });

  it('writes IPv6 exactly as ipaddr.js does (RFC 5952), except the dotted tail of IPv4-mapped addresses', () => {
    const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (groups) => {
        const value = groups.reduce((v, g) => (v << 16n) | BigInt(g), 0n);
        fc.pre(value >> 32n !== 0xffffn);
        expect(formatAddress({ family: 6, value })).toBe(new ipaddr.IPv6(groups).toRFC5952String());
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips every IPv6 address through format and parse', () => {
    const group = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (groups) => {
        const value = groups.reduce((v, g) => (v << 16n) | BigInt(g), 0n);
        const a = { family: 6 as const, value };
        const text = formatAddress(a);
        expect(parseAddress(text)).toEqual(a);
        expect(text).toBe(text.toLowerCase());
        // The uncompressed form canonicalises to the same text.
        expect(canonicalAddress(groups.map((g) => g.toString(16)).join(':'))).toBe(text);
      }),
      { numRuns: 200 },
    );
  });
});

describe('parsePool: entries', () => {
  it('skips the network and broadcast addresses of an IPv4 /28', () => {
    const p = pool('192.0.2.0/28');
    expect(p.size).toBe(14n);
    expect(take(poolAddresses(p), 1).map(formatAddress)).toEqual(['192.0.2.1']);
    expect(poolContains(p, '192.0.2.0')).toBe(false);
    expect(poolContains(p, '192.0.2.15')).toBe(false);
    expect(poolContains(p, '192.0.2.14')).toBe(true);
  });

  it('skips network and broadcast down to /30', () => {
    expect(texts(pool('192.0.2.4/30'))).toEqual(['192.0.2.5', '192.0.2.6']);
  });

  it('keeps both addresses of an IPv4 /31 (RFC 3021)', () => {
    expect(texts(pool('192.0.2.4/31'))).toEqual(['192.0.2.4', '192.0.2.5']);
  });

  it('keeps the one address of an IPv4 /32', () => {
    expect(texts(pool('192.0.2.9/32'))).toEqual(['192.0.2.9']);
  });

  it('keeps every address of an IPv6 CIDR: IPv6 has no broadcast', () => {
    expect(texts(pool('2001:db8::/126'))).toEqual([
      '2001:db8::',
      '2001:db8::1',
      '2001:db8::2',
      '2001:db8::3',
    ]);
  });

  it('takes an inclusive range', () => {
    expect(texts(pool('192.0.2.10-192.0.2.12'))).toEqual(['192.0.2.10', '192.0.2.11', '192.0.2.12']);
  });

  it('tolerates whitespace around the dash of a range and around an entry, as MetalLB does', () => {
    const p = pool(' 192.0.2.10 - 192.0.2.11 ');
    expect(texts(p)).toEqual(['192.0.2.10', '192.0.2.11']);
    expect(p.entries[0]?.text).toBe('192.0.2.10 - 192.0.2.11');
  });

  it('takes a single address, IPv4 or IPv6', () => {
    expect(texts(pool('192.0.2.7', '2001:db8::7'))).toEqual(['192.0.2.7', '2001:db8::7']);
  });

  it('sorts entries by family, then first address', () => {
    const p = pool('2001:db8::1', '198.51.100.1', '192.0.2.1');
    expect(p.entries.map((e) => e.text)).toEqual(['192.0.2.1', '198.51.100.1', '2001:db8::1']);
  });

  it('counts the size of an IPv6 /64 as a bigint without enumerating it', () => {
    expect(pool('2001:db8::/64').size).toBe(2n ** 64n);
    expect(pool('::/0').size).toBe(2n ** 128n);
  });

  it('counts the size of a pool as the sum of its entries', () => {
    expect(pool('192.0.2.0/24', '198.51.100.1-198.51.100.10', '2001:db8::/120').size).toBe(254n + 10n + 256n);
  });

  it('accepts an empty list as an empty pool', () => {
    expect(parsePool([])).toEqual({ pool: { entries: [], size: 0n }, errors: [] });
  });
});

describe('parsePool: errors name the entry and say what is wrong', () => {
  it.each([
    ['', '"" is empty; write an IPv4 or IPv6 address, CIDR or range'],
    ['   ', '"" is empty; write an IPv4 or IPv6 address, CIDR or range'],
    ['10.0.0.300', '"10.0.0.300" is not an IPv4 or IPv6 address, CIDR or range'],
    ['010.0.0.1', '"010.0.0.1" is not an IPv4 or IPv6 address, CIDR or range'],
    ['fe80::1%eth0', '"fe80::1%eth0" is not an IPv4 or IPv6 address, CIDR or range'],
    ['banana', '"banana" is not an IPv4 or IPv6 address, CIDR or range'],
    [
      '10.0.0.9-10.0.0.1',
      '"10.0.0.9-10.0.0.1" is reversed: 10.0.0.9 is above 10.0.0.1; write 10.0.0.1-10.0.0.9',
    ],
    [
      '10.0.0.1-2001:db8::1',
      '"10.0.0.1-2001:db8::1" mixes IPv4 and IPv6; both ends of a range must be of one family',
    ],
    ['10.0.0.1-10.0.0.300', '"10.0.0.1-10.0.0.300": "10.0.0.300" is not an IPv4 or IPv6 address'],
    ['10.0.0.1-', '"10.0.0.1-": "" is not an IPv4 or IPv6 address'],
    ['10.0.0.0/33', '"10.0.0.0/33" has an invalid prefix length /33; IPv4 allows /0 to /32'],
    ['2001:db8::/129', '"2001:db8::/129" has an invalid prefix length /129; IPv6 allows /0 to /128'],
    ['10.0.0.0/', '"10.0.0.0/" has an invalid prefix length /; IPv4 allows /0 to /32'],
    ['10.0.0.0/08', '"10.0.0.0/08" has an invalid prefix length /08; IPv4 allows /0 to /32'],
    ['10.0.0.0/-1', '"10.0.0.0/-1": "10.0.0.0/" is not an IPv4 or IPv6 address'],
    ['10.0.0.300/24', '"10.0.0.300/24" is not an IPv4 or IPv6 address, CIDR or range'],
    ['192.0.2.5/28', '"192.0.2.5/28" has host bits set; did you mean 192.0.2.0/28?'],
    ['2001:db8::1/64', '"2001:db8::1/64" has host bits set; did you mean 2001:db8::/64?'],
  ])('refuses %j', (entry, message) => {
    const { pool: p, errors } = parsePool(['198.51.100.1', entry]);
    expect(errors).toEqual([{ index: 1, entry, message }]);
    // The valid entries still make the pool.
    expect(texts(p)).toEqual(['198.51.100.1']);
  });

  it('reports an entry that overlaps an earlier one, naming both, and keeps the union', () => {
    const { pool: p, errors } = parsePool(['192.0.2.0/29', '192.0.2.4-192.0.2.9', '198.51.100.1']);
    expect(errors).toEqual([
      {
        index: 1,
        entry: '192.0.2.4-192.0.2.9',
        message: '"192.0.2.4-192.0.2.9" overlaps "192.0.2.0/29" (entry 0) in the same pool',
      },
    ]);
    // 192.0.2.1-192.0.2.9 plus 198.51.100.1, each counted once.
    expect(p.size).toBe(10n);
    expect(texts(p)).toEqual([...Array.from({ length: 9 }, (_, i) => `192.0.2.${i + 1}`), '198.51.100.1']);
  });

  it('reports an address written twice', () => {
    const { errors } = parsePool(['192.0.2.1', '192.0.2.1']);
    expect(errors.map((e) => e.message)).toEqual([
      '"192.0.2.1" overlaps "192.0.2.1" (entry 0) in the same pool',
    ]);
  });

  it('does not call adjacent entries overlapping', () => {
    expect(parsePool(['192.0.2.1-192.0.2.5', '192.0.2.6-192.0.2.9']).errors).toEqual([]);
  });

  it('does not count the network address of a /30 and wider as overlapping a single address', () => {
    // 192.0.2.0 is not usable in 192.0.2.0/29, so listing it separately gives it out once, not twice.
    expect(parsePool(['192.0.2.0/29', '192.0.2.0']).errors).toEqual([]);
  });

  it('reports every bad entry, each with its index', () => {
    const { errors } = parsePool(['x', '192.0.2.1', 'y']);
    expect(errors.map((e) => e.index)).toEqual([0, 2]);
  });
});

describe('poolContains', () => {
  const p = pool('192.0.2.0/28', '198.51.100.10-198.51.100.20', '2001:db8::/64');

  it.each([
    ['192.0.2.1', true],
    ['192.0.2.0', false],
    ['198.51.100.10', true],
    ['198.51.100.20', true],
    ['198.51.100.21', false],
    ['2001:db8::ffff:ffff:ffff:ffff', true],
    ['2001:db8:0:1::', false],
    ['2001:DB8::1', true],
    ['not an address', false],
    ['::ffff:192.0.2.1', false],
  ])('%s in the pool: %s', (address, inside) => {
    expect(poolContains(p, address)).toBe(inside);
  });

  it('accepts a parsed address', () => {
    expect(poolContains(p, { family: 4, value: 0xc0000201n })).toBe(true);
    expect(poolContains(p, { family: 6, value: 0xc0000201n })).toBe(false);
  });
});

describe('poolOverlaps', () => {
  it('names each pair of entries of two pools that share an address', () => {
    const a = pool('192.0.2.0/28', '198.51.100.1', '2001:db8::/64');
    const b = pool('192.0.2.8-192.0.2.20', '198.51.100.2', '2001:db8::5');
    expect(poolOverlaps(a, b)).toEqual([
      { a: '192.0.2.0/28', b: '192.0.2.8-192.0.2.20' },
      { a: '2001:db8::/64', b: '2001:db8::5' },
    ]);
  });

  it('finds nothing between disjoint pools or across families', () => {
    expect(poolOverlaps(pool('192.0.2.0/28'), pool('192.0.2.16/28', '::/0'))).toEqual([]);
  });
});

describe('overlap checks: the sweep finds what comparing every pair of entries finds', () => {
  const sharesAddress = (a: PoolEntry, b: PoolEntry): boolean =>
    a.family === b.family && a.first <= b.last && b.first <= a.last;

  // The reference: each entry on its own (one entry cannot overlap itself), then every pair compared.
  function referenceErrors(texts: readonly string[]): PoolEntryError[] {
    const errors: PoolEntryError[] = [];
    const valid: Array<{ index: number; entry: PoolEntry }> = [];
    texts.forEach((raw, index) => {
      const alone = parsePool([raw]);
      if (alone.errors.length > 0) {
        errors.push({ ...alone.errors[0]!, index });
        return;
      }
      const entry = alone.pool.entries[0]!;
      const earlier = valid.find((v) => sharesAddress(v.entry, entry));
      if (earlier !== undefined) {
        const message = `"${entry.text}" overlaps "${earlier.entry.text}" (entry ${earlier.index}) in the same pool`;
        errors.push({ index, entry: raw, message });
      }
      valid.push({ index, entry });
    });
    return errors;
  }

  function referenceOverlaps(pools: ReadonlyArray<{ name: string; pool: Pool }>): PoolOverlap[] {
    const out: PoolOverlap[] = [];
    for (let i = 0; i < pools.length; i++) {
      for (let j = i + 1; j < pools.length; j++) {
        const entries: PoolOverlap['entries'] = [];
        for (const ea of pools[i]!.pool.entries) {
          for (const eb of pools[j]!.pool.entries)
            if (sharesAddress(ea, eb)) entries.push({ a: ea.text, b: eb.text });
        }
        if (entries.length > 0) out.push({ a: pools[i]!.name, b: pools[j]!.name, entries });
      }
    }
    return out;
  }

  // Entries crowded into 192.0.2.0/26 and 2001:db8::/122 so that overlaps, touching ends and
  // duplicates are common; now and then a reversed range (an error, which is never an overlap).
  const v4 = fc.integer({ min: 0, max: 63 }).map((n) => `192.0.2.${n}`);
  const v6 = fc.integer({ min: 0, max: 63 }).map((n) => `2001:db8::${n.toString(16)}`);
  const entry = fc.oneof(
    v4,
    v6,
    fc
      .tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 20 }))
      .map(([a, n]) => `192.0.2.${a}-192.0.2.${Math.min(63, a + n)}`),
    fc
      .tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 20 }))
      .map(([a, n]) => `2001:db8::${a.toString(16)} - 2001:db8::${Math.min(63, a + n).toString(16)}`),
    fc
      .integer({ min: 27, max: 32 })
      .chain((prefix) =>
        fc
          .integer({ min: 0, max: 63 })
          .map((n) => `192.0.2.${n & ~((1 << (32 - prefix)) - 1) & 63}/${prefix}`),
      ),
    fc.integer({ min: 1, max: 40 }).map((n) => `192.0.2.${n + 1}-192.0.2.${n}`),
  );
  const texts = fc.array(entry, { maxLength: 14 });

  it('reports within one pool the same entries, each naming the same earlier entry', () => {
    fc.assert(
      fc.property(texts, (t) => {
        expect(parsePool(t).errors).toEqual(referenceErrors(t));
      }),
      { numRuns: 400 },
    );
  });

  it('reports across pools the same pairs of pools and of entries, in the same order', () => {
    const named = fc
      .array(texts, { maxLength: 7 })
      .map((list) => list.map((t, i) => ({ name: `lb-${i}`, pool: parsePool(t).pool })));
    fc.assert(
      fc.property(named, (pools) => {
        expect(findPoolOverlaps(pools)).toEqual(referenceOverlaps(pools));
      }),
      { numRuns: 300 },
    );
  });

  it('names overlapping pools by their input order, and each overlapping pair of entries', () => {
    const pools = [
      { name: 'older', pool: pool('192.0.2.0/28', '2001:db8::/120') },
      { name: 'apart', pool: pool('198.51.100.0/24') },
      { name: 'newer', pool: pool('2001:db8::10', '192.0.2.14-192.0.2.20', '192.0.2.1') },
    ];
    expect(findPoolOverlaps(pools)).toEqual([
      {
        a: 'older',
        b: 'newer',
        entries: [
          { a: '192.0.2.0/28', b: '192.0.2.1' },
          { a: '192.0.2.0/28', b: '192.0.2.14-192.0.2.20' },
          { a: '2001:db8::/120', b: '2001:db8::10' },
        ],
      },
    ]);
  });
});

describe('poolAddresses and lowestFree', () => {
  it('yields addresses in order across entries and families', () => {
    expect(texts(pool('2001:db8::1', '192.0.2.9', '192.0.2.1-192.0.2.2'))).toEqual([
      '192.0.2.1',
      '192.0.2.2',
      '192.0.2.9',
      '2001:db8::1',
    ]);
  });

  it('starts an IPv6 /64 at once: nothing is materialised', () => {
    const first = take(poolAddresses(pool('2001:db8::/64')), 3).map(formatAddress);
    expect(first).toEqual(['2001:db8::', '2001:db8::1', '2001:db8::2']);
  });

  it('yields the free addresses lowest first, skipping the taken ones', () => {
    const p = pool('192.0.2.0/29');
    expect([...lowestFree(p, new Set(['192.0.2.1', '192.0.2.3', '10.0.0.1']))]).toEqual([
      '192.0.2.2',
      '192.0.2.4',
      '192.0.2.5',
      '192.0.2.6',
    ]);
  });

  it('yields nothing from a pool that is all taken', () => {
    expect([...lowestFree(pool('192.0.2.4/31'), new Set(['192.0.2.4', '192.0.2.5']))]).toEqual([]);
  });

  it('compares taken addresses as canonical text', () => {
    const p = pool('2001:db8::/126');
    expect(take(lowestFree(p, new Set(['2001:db8::', '2001:db8::1'])), 1)).toEqual(['2001:db8::2']);
  });

  it('walks past thousands of taken addresses of an IPv6 /64 lazily', () => {
    const taken = new Set(
      Array.from({ length: 5000 }, (_, i) =>
        formatAddress({ family: 6, value: 0x20010db8n * 2n ** 96n + BigInt(i) }),
      ),
    );
    expect(take(lowestFree(pool('2001:db8::/64'), taken), 2)).toEqual(['2001:db8::1388', '2001:db8::1389']);
  });

  it('never yields a taken address or one outside the pool (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { maxLength: 30 }),
        fc.integer({ min: 0, max: 20 }),
        (takenOffsets, n) => {
          const p = pool('192.0.2.0/28', '192.0.2.20-192.0.2.30');
          const taken = new Set(takenOffsets.map((o) => `192.0.2.${o}`));
          const free = take(lowestFree(p, taken), n);
          const expected = texts(p)
            .filter((a) => !taken.has(a))
            .slice(0, n);
          expect(free).toEqual(expected);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('decodeCanonicalIPv6 (the fast path for addresses the module wrote itself)', () => {
  const sparse = fc
    .array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
      minLength: 8,
      maxLength: 8,
    })
    .map((groups) => groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n));

  it('decodes the canonical text of every address to its value', () => {
    fc.assert(
      fc.property(sparse, (value) => {
        const text = formatAddress({ family: 6, value });
        // IPv4-mapped addresses keep their dotted tail: the strict parser handles those.
        expect(decodeCanonicalIPv6(text)).toBe(text.includes('.') ? undefined : value);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses every other spelling, which the strict parser then handles', () => {
    const spellings = sparse.chain((value) => {
      const groups = value.toString(16).padStart(32, '0').match(/.{4}/g) ?? [];
      return fc
        .tuple(fc.boolean(), fc.boolean(), fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 8 }))
        .map(([upper, pad, from, len]) => {
          let gs = groups.map((g) => (pad ? g : String(Number.parseInt(g, 16).toString(16))));
          let text = gs.join(':');
          if (len > 0 && gs.slice(from, from + len).every((g) => Number.parseInt(g, 16) === 0)) {
            gs = [...gs.slice(0, from), '', ...gs.slice(from + len)];
            text = gs.join(':').replace(/:{3,}/, '::');
            if (text.startsWith(':') && !text.startsWith('::')) text = `:${text}`;
            if (text.endsWith(':') && !text.endsWith('::')) text = `${text}:`;
          }
          return { value, text: upper ? text.toUpperCase() : text };
        });
    });
    fc.assert(
      fc.property(spellings, ({ value, text }) => {
        const decoded = decodeCanonicalIPv6(text);
        if (decoded !== undefined) {
          expect(decoded).toBe(value);
          expect(text).toBe(formatAddress({ family: 6, value }));
        }
        // Whatever the fast path refuses still parses to the same value.
        expect(parseCanonical(text)?.address.value).toBe(parseAddress(text)?.value);
      }),
      { numRuns: 2000 },
    );
    expect(decodeCanonicalIPv6('2001:DB8::1')).toBeUndefined();
    expect(decodeCanonicalIPv6('2001:db8:0:0:1:0:0:1')).toBeUndefined();
    expect(decodeCanonicalIPv6('2001:db8::1:0:0:1')).toBe(parseAddress('2001:db8::1:0:0:1')?.value);
    expect(decodeCanonicalIPv6('2001:0:0:1::1')).toBe(parseAddress('2001:0:0:1::1')?.value);
    expect(decodeCanonicalIPv6('2001:db8::0:1')).toBeUndefined();
    expect(decodeCanonicalIPv6('::')).toBe(0n);
  });
});
