// lib/objects: the one reading of a speaker Lease and an L2LBService that the control loop and the
// speaker share. Fixtures are trimmed `kubectl get -o yaml` output.
import { load } from 'js-yaml';
import {
  isLeaseFresh,
  l2lbServiceFields,
  leaseExpiresAt,
  leaseFields,
  readL2LBService,
  readLease,
} from '../../lib/objects';

const lease = (spec: string, name = 'l2lb-speaker-frontend-1'): unknown =>
  load(`
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: { name: ${name}, namespace: d8-l2-load-balancer }
spec:
${spec}`);

const NOW = Date.parse('2026-11-02T10:00:00Z');

describe('readLease', () => {
  it('names the node after the prefix and keeps renewTime while a holder is set', () => {
    const r = readLease(
      leaseFields(
        lease(
          '  holderIdentity: frontend-1\n  renewTime: "2026-11-02T09:59:59.000000Z"\n  leaseDurationSeconds: 3',
        ),
      ),
    );
    expect(r).toEqual({
      ok: true,
      value: { node: 'frontend-1', renewTime: '2026-11-02T09:59:59.000000Z', durationSeconds: 3 },
    });
  });

  it('reads a Lease whose holder was cleared as released: no renewTime, never fresh', () => {
    const r = readLease(
      leaseFields(lease('  renewTime: "2026-11-02T09:59:59.000000Z"\n  leaseDurationSeconds: 3')),
    );
    expect(r.ok && 'renewTime' in r.value).toBe(false);
    expect(r.ok && isLeaseFresh(r.value, NOW)).toBe(false);
  });

  it('refuses a Lease that is not a speaker Lease, naming it', () => {
    expect(readLease(leaseFields(lease('  holderIdentity: x', 'kube-scheduler')))).toEqual({
      ok: false,
      error: 'Lease kube-scheduler: not a speaker Lease (l2lb-speaker-<node>)',
    });
  });
});

describe('isLeaseFresh', () => {
  const at = (renewTime: string, durationSeconds: number) => ({ node: 'n', renewTime, durationSeconds });
  it('is fresh until renewTime + leaseDurationSeconds and expired from then on', () => {
    expect(isLeaseFresh(at('2026-11-02T09:59:58Z', 3), NOW)).toBe(true);
    expect(isLeaseFresh(at('2026-11-02T09:59:57Z', 3), NOW)).toBe(false);
  });
  it('is never fresh with no duration or an unparseable renewTime', () => {
    expect(isLeaseFresh(at('2026-11-02T10:00:30Z', 0), NOW)).toBe(false);
    expect(leaseExpiresAt(at('yesterday', 3))).toBeUndefined();
  });
});

describe('readL2LBService', () => {
  const object = load(`
apiVersion: internal.network.deckhouse.io/v1alpha1
kind: L2LBService
metadata:
  name: web-public-0-1a2b3c4d
  namespace: shop
  creationTimestamp: "2026-11-02T09:00:00Z"
  labels:
    network.deckhouse.io/parent-service: web
    network.deckhouse.io/l2-load-balancer: public
    network.deckhouse.io/index: "0"
  annotations: { network.deckhouse.io/spec-hash: 0123456789abcdef }
spec:
  loadBalancerIP: "2001:DB8::0:1"
  nodes: [frontend-1, frontend-2]
  serviceRef: { name: web, namespace: shop }
status:
  announcingNode: frontend-1
  loadBalancer: { ingress: [{ ip: "2001:db8::1" }] }
  conditions: [{ type: Announced, status: "True", reason: Announced, message: "", lastTransitionTime: "2026-11-02T09:00:01Z" }]
`);

  it('reads whose it is, the address as canonical text, the ranked nodes and the status', () => {
    const r = readL2LBService(l2lbServiceFields(object));
    expect(r).toEqual({
      ok: true,
      value: expect.objectContaining({
        namespace: 'shop',
        name: 'web-public-0-1a2b3c4d',
        service: { namespace: 'shop', name: 'web' },
        l2lbName: 'public',
        index: 0,
        address: '2001:db8::1',
        nodes: ['frontend-1', 'frontend-2'],
        specHash: '0123456789abcdef',
        status: expect.objectContaining({
          announcingNode: 'frontend-1',
          ingress: ['2001:db8::1'],
        }) as unknown,
      }) as unknown,
    });
  });

  it('reads an address that is no address as none, and an index label that is no whole number as absent', () => {
    const r = readL2LBService({ name: 'x', namespace: 'shop', address: '192.0.2.300', index: '01' });
    expect(r.ok && [r.value.address, r.value.index]).toEqual(['', undefined]);
  });

  it('refuses an object without a name', () => {
    expect(readL2LBService({ namespace: 'shop' })).toEqual({
      ok: false,
      error: 'L2LBService in namespace shop: metadata.name is missing',
    });
  });
});
