// Prometheus metrics (`l2lb_speaker_*`) and the /metrics, /healthz, /readyz endpoints.
import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AddressSeries } from '../../lib/speaker/series';

const ADDRESS_LABELS = ['address', 'l2loadbalancer', 'service_namespace', 'service'] as const;

export class SpeakerMetrics {
  readonly registry = new Registry();
  readonly announced = new Gauge({
    name: 'l2lb_speaker_announced_addresses',
    help: 'Addresses this speaker holds on its interfaces and announces.',
    registers: [this.registry],
  });
  readonly addressAnnounced = new Gauge({
    name: 'l2lb_speaker_address_announced',
    help: 'One series per address this speaker holds on an interface and announces (value 1), removed when it lets the address go.',
    labelNames: ADDRESS_LABELS,
    registers: [this.registry],
  });
  readonly addressConflicts = new Counter({
    name: 'l2lb_speaker_address_conflicts_total',
    help: 'Duplicate address probes (arping -D) of a held address that another host answered.',
    labelNames: ['address'] as const,
    registers: [this.registry],
  });
  readonly gratuitous = new Counter({
    name: 'l2lb_speaker_gratuitous_sent_total',
    help: 'Addresses announced: gratuitous ARP request and reply (ipv4) or unsolicited neighbour advertisement (ipv6).',
    labelNames: ['family'] as const,
    registers: [this.registry],
  });
  readonly takeovers = new Counter({
    name: 'l2lb_speaker_takeovers_total',
    help: 'Indices this speaker took over from another node, by cause: heartbeat (the previous announcer fell silent), lease (its Lease ran out, never heard by heartbeat), graceful (it said goodbye or released its Lease), planned (it is alive; a move by rank).',
    labelNames: ['cause'] as const,
    registers: [this.registry],
  });
  readonly takeoverSeconds = new Histogram({
    name: 'l2lb_speaker_takeover_duration_seconds',
    help: 'From the moment the previous announcer stopped counting as alive (its Lease expired, or it was declared dead or leaving by heartbeat) to the first gratuitous ARP of the new one.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly renewFailures = new Counter({
    name: 'l2lb_speaker_lease_renew_failures_total',
    help: "Failed renewals of this speaker's Lease.",
    registers: [this.registry],
  });
  readonly commandFailures = new Counter({
    name: 'l2lb_speaker_command_failures_total',
    help: 'Failed ip/arping/na6 commands.',
    labelNames: ['command'] as const,
    registers: [this.registry],
  });
  readonly portFilter = new Gauge({
    name: 'l2lb_speaker_port_filter_applied',
    help: '1 while the speaker\'s nftables table filters its public addresses as wanted, 0 after nft failed (see l2lb_speaker_command_failures_total{command="nft"}).',
    registers: [this.registry],
  });
  readonly viewFresh = new Gauge({
    name: 'l2lb_speaker_view_fresh',
    help: "1 while the speaker's view of the cluster is fresh (it may take over indices), else 0.",
    registers: [this.registry],
  });

  /** The label set of each address in l2lb_speaker_address_announced, as last set. */
  private readonly addressSeries = new Map<string, AddressSeries>();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Makes l2lb_speaker_address_announced (and the total) show exactly `series`. */
  setAnnounced(series: readonly AddressSeries[]): void {
    const next = new Map(series.map((s) => [s.address, s]));
    for (const [address, old] of this.addressSeries) {
      const now = next.get(address);
      if (now && ADDRESS_LABELS.every((l) => now[l] === old[l])) continue;
      this.addressAnnounced.remove({ ...old });
      this.addressSeries.delete(address);
    }
    for (const [address, s] of next) {
      if (this.addressSeries.has(address)) continue;
      this.addressAnnounced.set({ ...s }, 1);
      this.addressSeries.set(address, s);
    }
    this.announced.set(next.size);
  }
}

export function serveMetrics(
  metrics: SpeakerMetrics,
  host: string,
  port: number,
  ready: () => boolean,
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (e: unknown) => res.writeHead(500).end(String(e)),
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ok = ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ready\n');
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
