// The one executable behind every packaged hook (see scripts/package.mjs): `l2lb-hooks <hook> [args]`
// runs hooks/<hook>.ts as if it were that hook's own executable, `l2lb-hooks --list` names them.
//
// Each hook calls runHook() at the top level of its module, so importing a hook runs it. The
// dispatcher therefore `require`s only the chosen hook's module; esbuild bundles every one of them
// into this file behind a lazy initialiser, so one binary carries them all and starts only one.

/* eslint-disable @typescript-eslint/no-require-imports -- a static require per hook, run on demand */
const HOOKS: Readonly<Record<string, () => unknown>> = {
  module_objects: () => require('../../hooks/module_objects'),
  reconcile: () => require('../../hooks/reconcile'),
};
/* eslint-enable @typescript-eslint/no-require-imports */

/**
 * The arguments after the hook name. A Node.js single-executable application sees
 * `[binary, binary, ...args]` in process.argv, a bundle run by node `[node, script, ...args]`:
 * the hook name is the third entry either way.
 */
function dispatch(argv: readonly string[]): void {
  const name = argv[2];
  if (name === '--list') {
    process.stdout.write(`${Object.keys(HOOKS).join('\n')}\n`);
    return;
  }
  const load = name === undefined ? undefined : HOOKS[name];
  if (load === undefined) {
    process.stderr.write(
      `l2lb-hooks: unknown hook ${JSON.stringify(name ?? '')}; one of: ${Object.keys(HOOKS).join(', ')}\n`,
    );
    process.exitCode = 2;
    return;
  }
  load();
}

dispatch(process.argv);
