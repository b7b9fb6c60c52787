// The module on a local cluster, for a person to look at (run by `bash scripts/demo.sh`):
// starts kube-apiserver (over kine) and the engine that runs the hooks, applies the example
// cluster (Nodes with their Ready status, the L2LoadBalancer, the Services), waits until the
// control loop has converged, puts the balancer nodes on the wire (scripts/demo-wire.ts: speakers in
// network namespaces, a client reaching every address, one node failed), prints what an operator
// would look at (through kubectl), and stays up until Ctrl-C. With --once, or when stdin is not a terminal, it exits after printing.
//
// The engine is addon-operator on the packaged module, as under Deckhouse: the ModuleConfig of
// --values (spec.settings, spec.enabled) goes into addon-operator's ConfigMap the way
// deckhouse-controller would put it there. --standalone runs plain shell-operator on the built
// hooks instead, the settings in the module's own ConfigMap.
//
//   npx tsx scripts/cluster-demo.ts [--standalone] [--once] [--verbose] [--state FILE] [--values FILE]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadAll, load } from 'js-yaml';
import { showWire, type Wire } from './demo-wire';
import {
  ADDON_OPERATOR_CONFIGMAP,
  ADDON_OPERATOR_NAMESPACE,
  moduleConfigToAddonOperatorConfig,
  type AddonOperatorModuleConfig,
} from '../testbed/addon-operator';
import {
  CONDITION_ALL_ASSIGNED,
  MODULE_NAMESPACE,
  ModuleCluster,
  SETTINGS_CONFIGMAP,
  REPO_ROOT,
  applyManifests,
  conditionOf,
  readyCondition,
  type ManifestObject,
} from '../testbed/module';

interface Args {
  standalone: boolean;
  once: boolean;
  verbose: boolean;
  state: string;
  values: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    standalone: false,
    once: !process.stdin.isTTY,
    verbose: false,
    state: join(REPO_ROOT, 'examples', 'cluster.yaml'),
    values: join(REPO_ROOT, 'examples', 'module-config.yaml'),
  };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${x} needs a file`);
      return resolve(v);
    };
    if (x === '--standalone') a.standalone = true;
    else if (x === '--once') a.once = true;
    else if (x === '--verbose' || x === '-v') a.verbose = true;
    else if (x === '--state') a.state = next();
    else if (x === '--values') a.values = next();
    else
      throw new Error(
        `unknown argument ${x} (expected --standalone, --once, --verbose, --state FILE, --values FILE)`,
      );
  }
  return a;
}

const say = (line: string): void => {
  process.stderr.write(`==> ${line}\n`);
};

/**
 * The module config of a ModuleConfig (as deckhouse-controller derives it), of a values file's
 * l2LoadBalancer, or of bare settings (both enabled).
 */
function loadModuleConfig(path: string): AddonOperatorModuleConfig {
  const doc = load(readFileSync(path, 'utf8')) as Record<string, unknown> | null;
  if (doc === null || typeof doc !== 'object') return { settings: {}, enabled: true };
  if (doc.kind === 'ModuleConfig') return moduleConfigToAddonOperatorConfig(doc);
  if (typeof doc.l2LoadBalancer === 'object' && doc.l2LoadBalancer !== null)
    return { settings: doc.l2LoadBalancer as Record<string, unknown>, enabled: true };
  return { settings: doc, enabled: true };
}

function kubectlAvailable(): boolean {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

function show(kubeconfig: string, args: string[]): void {
  process.stdout.write(`\n$ kubectl ${args.join(' ')}\n`);
  try {
    process.stdout.write(
      execFileSync('kubectl', args, {
        encoding: 'utf8',
        timeout: 30_000,
        env: { ...process.env, KUBECONFIG: kubeconfig },
      }),
    );
  } catch (err) {
    process.stdout.write(`(kubectl failed: ${err instanceof Error ? err.message : String(err)})\n`);
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const docs = (loadAll(readFileSync(args.state, 'utf8')) as ManifestObject[]).filter(
    (d) => d !== null && typeof d === 'object',
  );
  const config = loadModuleConfig(args.values);
  if (!config.enabled) throw new Error(`${args.values}: spec.enabled is false, so there is nothing to show`);
  const engine = args.standalone ? 'shell-operator' : 'addon-operator';

  if (engine === 'addon-operator') {
    say(
      `no Deckhouse here: in place of deckhouse-controller, this script turns ModuleConfig ${args.values} ` +
        `(spec.enabled, spec.settings) into ConfigMap ${ADDON_OPERATOR_NAMESPACE}/${ADDON_OPERATOR_CONFIGMAP} ` +
        '(keys l2LoadBalancer, l2LoadBalancerEnabled), where addon-operator reads module config outside Deckhouse',
    );
    say('starting the control plane (kube-apiserver over kine) and addon-operator with the packaged module');
  } else {
    say(
      'starting the control plane (kube-apiserver over kine) and the module (shell-operator + hooks, standalone)',
    );
  }
  const t0 = Date.now();
  const m = await ModuleCluster.start({
    engine,
    settings: config.settings,
    ...(args.verbose ? { log: (l: string) => process.stderr.write(`${l}\n`) } : {}),
  });
  let stopping = false;
  let wire: Wire | undefined;
  const stop = async (code: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      say('stopping the speakers and namespaces, the module and the control plane');
      await wire?.stop();
      await m.stop();
    }
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(130));
  process.on('SIGTERM', () => void stop(143));

  try {
    say(`up in ${((Date.now() - t0) / 1000).toFixed(1)} s; kubeconfig ${m.kubeconfigPath}`);
    say(`applying ${args.state} (${docs.length} objects) with the settings of ${args.values}`);
    await applyManifests(m, docs);

    const services = docs.filter((d) => d.kind === 'Service');
    say(`waiting for the control loop: every Service gets its ${CONDITION_ALL_ASSIGNED} condition`);
    for (const s of services) {
      const ns = s.metadata.namespace ?? 'default';
      await m.until(
        `the condition of Service ${ns}/${s.metadata.name}`,
        async () =>
          conditionOf((await m.getService(ns, s.metadata.name)).status?.conditions, CONDITION_ALL_ASSIGNED)
            ? true
            : undefined,
        90_000,
      );
    }
    say('waiting for a scheduled run of the control loop (every 15 s) that changes nothing');
    await m.untilConverged({ timeoutMs: 120_000 });
    say(`converged under ${engine} ${((Date.now() - t0) / 1000).toFixed(1)} s after the start`);

    // The job on the wire: speakers in node namespaces, a client reaching every address, a failover.
    wire = await showWire({
      cluster: m,
      settings: config.settings,
      out: (t) => void process.stdout.write(t),
      say,
      verbose: args.verbose,
    });

    const kc = m.kubeconfigPath;
    if (kubectlAvailable()) {
      show(kc, ['get', 'nodes', '-L', 'node-role.kubernetes.io/frontend']);
      show(kc, ['get', 'l2loadbalancers']);
      show(kc, ['get', 'svc', '-A']);
      show(kc, [
        'get',
        'svc',
        '-A',
        '-o',
        `custom-columns=NAMESPACE:.metadata.namespace,NAME:.metadata.name,ASSIGNED:.status.conditions[?(@.type=="${CONDITION_ALL_ASSIGNED}")].status,MESSAGE:.status.conditions[?(@.type=="${CONDITION_ALL_ASSIGNED}")].message`,
      ]);
      show(kc, ['get', 'l2lbservices', '-A']);
      show(kc, ['get', 'events', '-A', '--sort-by=.lastTimestamp']);
    } else {
      process.stdout.write(
        '\nkubectl is not on PATH: install it (Debian/Ubuntu: `apt-get install kubectl`, or see\n' +
          'https://kubernetes.io/docs/tasks/tools/) to look at the cluster. What the module wrote:\n',
      );
      for (const s of await m.listServices()) {
        const c = conditionOf(s.status?.conditions, CONDITION_ALL_ASSIGNED);
        if (c === undefined) continue;
        const ips = (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).join(',');
        process.stdout.write(`  ${s.metadata.namespace}/${s.metadata.name}  [${ips}]  ${c.message ?? ''}\n`);
      }
    }

    if (args.once) {
      process.stdout.write(`\nkubeconfig: ${kc} (removed now: --once, or stdin is not a terminal)\n`);
      await stop(0);
    }
    const frontend = docs.find((d) => d.kind === 'Node')?.metadata.name ?? 'NODE';
    process.stdout.write(
      [
        '',
        `kubeconfig: ${kc}`,
        `  export KUBECONFIG=${kc}`,
        '',
        'Things to try (the hooks react at once; re-ranking runs every 15 s):',
        `  kubectl patch node ${frontend} --subresource=status --type=merge -p '${JSON.stringify({
          status: { conditions: [readyCondition(false, new Date())] },
        })}'`,
        '  kubectl annotate svc web network.deckhouse.io/l2-load-balancer-external-ips-count=5 --overwrite',
        engine === 'addon-operator'
          ? `  kubectl -n ${ADDON_OPERATOR_NAMESPACE} get configmap ${ADDON_OPERATOR_CONFIGMAP} -o yaml   # the settings, as deckhouse-controller would write them`
          : `  kubectl -n ${MODULE_NAMESPACE} get configmap ${SETTINGS_CONFIGMAP} -o yaml   # the settings`,
        `(${engine}'s own log: run with --verbose)`,
        '',
      ].join('\n'),
    );

    say('the cluster stays up; Ctrl-C stops it and removes everything');
    await new Promise<never>(() => undefined);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    await stop(1);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
