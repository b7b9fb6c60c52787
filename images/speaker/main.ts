// The speaker's entry point: configuration from the environment, then the pieces wired together.
// See images/speaker/README.md for the variables and what the speaker does.
import { KubeConfig } from '@kubernetes/client-node';
import { parseSpeakerConfig } from '../../lib/speaker/config';
import { formatEndpoints } from '../../lib/speaker/heartbeat/peers';
import { KubeCluster } from './cluster';
import { startHeartbeats } from './heartbeat';
import { jsonLogger } from './log';
import { serveMetrics, SpeakerMetrics } from './metrics';
import { NftFirewall } from './firewall';
import { ShellNetworkOps } from './netops';
import { Speaker } from './speaker';

async function main(): Promise<number> {
  const { config, errors } = parseSpeakerConfig(process.env);
  if (!config) {
    for (const e of errors)
      process.stderr.write(`${JSON.stringify({ level: 'error', msg: 'bad configuration', error: e })}\n`);
    return 2;
  }
  const log = jsonLogger(config.logLevel, { node: config.node });
  for (const e of errors) log.warn('bad configuration, using the default', { error: e });

  // KUBECONFIG (tests, local runs) or the Pod's service account; the library re-reads a rotated
  // projected token by itself.
  const kc = new KubeConfig();
  if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromCluster();

  const metrics = new SpeakerMetrics();
  const ops = new ShellNetworkOps(
    {
      commandFailed: (command, args, error) => {
        metrics.commandFailures.inc({ command });
        log.warn('command failed', { command, args: args.join(' '), error });
      },
      gratuitousSent: (family) => metrics.gratuitous.inc({ family }),
    },
    config.netns,
    config.addressLifetimeSeconds,
    config.announceConcurrency,
  );
  const firewall = new NftFirewall(
    {
      applied: (addresses) => {
        metrics.portFilter.set(1);
        log.debug('port filter applied', { addresses });
      },
      failed: (error) => {
        metrics.portFilter.set(0);
        metrics.commandFailures.inc({ command: 'nft' });
        log.warn('port filter not applied: host listeners may answer on the public addresses', { error });
      },
    },
    config.netns,
  );
  // Switched off: a table left by an earlier run must not keep filtering.
  if (!config.portFilter) await firewall.remove();
  // The watches and the heartbeats call back into the speaker, which needs both: tie the knot
  // through a ref.
  const ref: { speaker?: Speaker } = {};
  const heartbeats = await startHeartbeats(process.env, {
    node: config.node,
    log,
    registry: metrics.registry,
    changed: () => ref.speaker?.kick(),
  });
  let lastFailureLog = 0;
  const cluster = new KubeCluster(
    kc,
    { ...config, ...(heartbeats ? { heartbeatEndpoints: formatEndpoints(heartbeats.endpoints()) } : {}) },
    () => ref.speaker?.changed(),
    (what, err) => {
      // Watches retry every ≤2 s while the API is away: log a failure at most once a second.
      if (Date.now() - lastFailureLog < 1000) return;
      lastFailureLog = Date.now();
      log.warn('watch failed', { what, error: err instanceof Error ? err.message : String(err) });
    },
  );
  // performance.now() is CLOCK_MONOTONIC: it keeps counting while the process is stopped and never
  // steps. L2LB_CLOCK_SKEW_MS shifts only the wall clock (tests: a node whose clock is off).
  const skewMs = Number(process.env.L2LB_CLOCK_SKEW_MS ?? 0) || 0;
  const clock = { now: () => performance.now(), wallNow: () => Date.now() + skewMs };
  const speaker = new Speaker(
    config,
    cluster,
    ops,
    clock,
    log,
    metrics,
    config.portFilter ? firewall : undefined,
    heartbeats,
  );
  ref.speaker = speaker;
  const server = await serveMetrics(metrics, config.metricsHost, config.metricsPort, () => speaker.ready());
  const address = server.address();
  log.info('speaker starting', {
    metrics:
      typeof address === 'object' && address ? `${address.address}:${address.port}` : config.metricsPort,
    namespace: config.namespace,
    leaseDurationSeconds: config.leaseDurationSeconds,
    renewIntervalSeconds: config.renewIntervalSeconds,
    garp: config.garp,
    portFilter: config.portFilter,
    announceConcurrency: config.announceConcurrency,
    netns: config.netns,
  });

  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      log.info('signal received', { signal });
      void speaker
        .shutdown()
        .catch((e: unknown) => log.error('shutdown failed', { error: String(e) }))
        .finally(resolve);
    };
    // `on`, not `once`: execa's cleanup (signal-exit) re-raises a signal that no other listener
    // handles, which would kill the speaker mid-hand-over whenever an arping runs. A second
    // signal is ignored: shutdown() runs once.
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  cluster.start();
  void speaker.start();
  await stopped;
  heartbeats?.stop();
  cluster.stop();
  server.close();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(
      `${JSON.stringify({ level: 'error', msg: 'speaker failed', error: e instanceof Error ? e.stack : String(e) })}\n`,
    );
    process.exit(1);
  },
);
