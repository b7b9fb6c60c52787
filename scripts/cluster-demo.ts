// The module on a local cluster, for a person to look at (run by `bash scripts/demo.sh`):
// starts kube-apiserver (over kine) and shell-operator with the built hooks, applies the example
// cluster (Nodes with their Ready status, the L2LoadBalancer, the Services), waits until the
// control loop has converged, puts the balancer nodes on the wire (scripts/demo-wire.ts: speakers in
// network namespaces, a client reaching every address, one node failed), prints what an operator
// would look at (through kubectl), and stays up until Ctrl-C. With --once, or when stdin is not a terminal, it exits after printing.
//
//   npx tsx scripts/cluster-demo.ts [--once] [--verbose] [--state FILE] [--values FILE]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadAll, load } from 'js-yaml';
import { showWire, type Wire } from './demo-wire';
import {
  CONDITION_ALL_ASSIGNED,
  MODULE_NAMESPACE,
  ModuleCluster,
  REPO_ROOT,
  conditionOf,
  readyCondition,
  serverSideApply,
} from '../testbed/module';

interface Args {
  once: boolean;
  verbose: boolean;
  state: string;
  values: string;
}

interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  status?: { conditions?: Array<{ type: string; status: string; lastTransitionTime?: string }> };
  [k: string]: unknown;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
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
    if (x === '--once') a.once = true;
    else if (x === '--verbose' || x === '-v') a.verbose = true;
    else if (x === '--state') a.state = next();
    else if (x === '--values') a.values = next();
    else throw new Error(`unknown argument ${x} (expected --once, --verbose, --state FILE, --values FILE)`);
  }
  return a;
}

const say = (line: string): void => {
  process.stderr.write(`==> ${line}\n`);
};

/** A ModuleConfig's spec.settings, a values file's l2LoadBalancer, or bare settings. */
function loadSettings(path: string): Record<string, unknown> {
  const doc = load(readFileSync(path, 'utf8')) as Record<string, unknown> | null;
  if (doc === null || typeof doc !== 'object') return {};
  const spec = doc.spec as { settings?: Record<string, unknown> } | undefined;
  if (doc.kind === 'ModuleConfig') return spec?.settings ?? {};
  if (typeof doc.l2LoadBalancer === 'object' && doc.l2LoadBalancer !== null)
    return doc.l2LoadBalancer as Record<string, unknown>;
  return doc;
}

/** The object as a user would apply it: without what the API server sets itself. */
function forApply(d: Doc): Doc {
  const { uid: _uid, creationTimestamp: _ct, resourceVersion: _rv, ...metadata } = d.metadata;
  const { status: _status, ...rest } = d;
  return { ...rest, metadata } as Doc;
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
  const docs = (loadAll(readFileSync(args.state, 'utf8')) as Doc[]).filter(
    (d) => d !== null && typeof d === 'object',
  );
  const settings = loadSettings(args.values);

  say('starting the control plane (kube-apiserver over kine) and the module (shell-operator + hooks)');
  const t0 = Date.now();
  const m = await ModuleCluster.start({
    settings,
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
    for (const d of docs) {
      if (d.metadata.namespace !== undefined) await m.ensureNamespace(d.metadata.namespace);
      await serverSideApply(m.cp, forApply(d), { fieldManager: 'l2lb-demo' });
      // A Node's Ready condition is the kubelet's to write, through the status subresource.
      if (d.kind === 'Node') {
        const ready = d.status?.conditions?.find((c) => c.type === 'Ready');
        const since = ready?.lastTransitionTime ? new Date(ready.lastTransitionTime) : new Date();
        await m.setNodeReady(d.metadata.name, ready?.status === 'True', since);
      }
    }

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
    say(`converged ${((Date.now() - t0) / 1000).toFixed(1)} s after the start`);

    // The job on the wire: speakers in node namespaces, a client reaching every address, a failover.
    wire = await showWire({
      cluster: m,
      settings,
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
        `  kubectl -n ${MODULE_NAMESPACE} get configmap l2-load-balancer-settings -o yaml   # the settings`,
        "(shell-operator's own log: run with --verbose)",
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
