// Starts a local control plane (kine + kube-apiserver on 127.0.0.1) with the module's CRDs and keeps
// it up until Ctrl-C:
//
//   npx tsx scripts/cluster-up.ts [--crds DIR] [--no-crds] [--verbose]
//   kubectl --kubeconfig <printed path> get l2loadbalancers
//
// The first run builds the binaries (scripts/binaries.sh); later runs start in seconds.
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startControlPlane } from '../testbed/control-plane';

function parseArgs(argv: string[]): { crdDir: string | undefined; verbose: boolean } {
  let crdDir: string | undefined = resolve(__dirname, '..', 'crds');
  let verbose = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--crds') {
      const next = argv[++i];
      if (next === undefined) throw new Error('--crds needs a directory');
      crdDir = resolve(next);
    } else if (a === '--no-crds') crdDir = undefined;
    else if (a === '--verbose' || a === '-v') verbose = true;
    else throw new Error(`unknown argument ${a} (expected --crds DIR, --no-crds, --verbose)`);
  }
  // An empty crds/ is not an error: there is just nothing to apply yet.
  if (crdDir !== undefined && (!existsSync(crdDir) || readdirSync(crdDir).length === 0)) crdDir = undefined;
  return { crdDir, verbose };
}

async function main(): Promise<void> {
  const { crdDir, verbose } = parseArgs(process.argv.slice(2));
  const cp = await startControlPlane({
    crdDir,
    log: verbose ? (l) => process.stderr.write(`${l}\n`) : undefined,
  });
  process.stdout.write(
    [
      `control plane ready in ${(cp.startupMs / 1000).toFixed(1)}s`,
      `  server:     ${cp.server}`,
      `  kubeconfig: ${cp.kubeconfigPath}`,
      `  CRDs:       ${crdDir ?? '(none)'}`,
      '',
      `  export KUBECONFIG=${cp.kubeconfigPath}`,
      `  kubectl --kubeconfig ${join(cp.dir, 'kubeconfig')} get namespaces`,
      '',
      'Ctrl-C stops it and removes everything.',
      '',
    ].join('\n'),
  );
  await new Promise<void>((res) => {
    const onSignal = (): void => {
      process.stdout.write('\nstopping...\n');
      void cp.stop().then(res);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  process.stdout.write('stopped\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
