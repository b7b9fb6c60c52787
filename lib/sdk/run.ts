// Runs a hook under the shell-operator / addon-operator environment protocol.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { BindingContextError, parseBindingContexts, type BindingContext, type HookConfig } from './binding';
import { PatchCollector, MetricsCollector, type ValuesPatchOperation } from './output';

export interface HookInput {
  contexts: BindingContext[];
  /** addon-operator values (`VALUES_PATH`), absent under plain shell-operator. */
  values?: Record<string, unknown>;
  now: Date;
}

export interface HookOutput {
  patches: PatchCollector;
  metrics: MetricsCollector;
  values: ValuesPatchOperation[];
  log: (msg: string, fields?: Record<string, unknown>) => void;
}

export type HookHandler = (input: HookInput, output: HookOutput) => void;

function readJson(path: string | undefined): unknown {
  if (!path || !existsSync(path)) return undefined;
  const text = readFileSync(path, 'utf8');
  return text.trim() === '' ? undefined : (JSON.parse(text) as unknown);
}

/** Entry point of every hook executable. */
export function runHook(config: HookConfig, metricsGroup: string, handler: HookHandler): void {
  if (process.argv.includes('--config')) {
    process.stdout.write(JSON.stringify(config) + '\n');
    return;
  }
  const env = process.env;
  const log = (msg: string, fields: Record<string, unknown> = {}): void => {
    process.stderr.write(JSON.stringify({ level: 'info', msg, ...fields }) + '\n');
  };
  try {
    const ctxPath = env.BINDING_CONTEXT_PATH;
    if (!ctxPath) throw new BindingContextError('BINDING_CONTEXT_PATH is not set');
    const contexts = parseBindingContexts(readFileSync(ctxPath, 'utf8'));
    const values = readJson(env.VALUES_PATH);
    const output: HookOutput = {
      patches: new PatchCollector(),
      metrics: new MetricsCollector(metricsGroup),
      values: [],
      log,
    };
    handler(
      {
        contexts,
        values: typeof values === 'object' && values ? (values as Record<string, unknown>) : undefined,
        now: new Date(),
      },
      output,
    );
    if (env.KUBERNETES_PATCH_PATH)
      writeFileSync(env.KUBERNETES_PATCH_PATH, output.patches.serialize(), { flag: 'a' });
    if (env.METRICS_PATH) writeFileSync(env.METRICS_PATH, output.metrics.serialize(), { flag: 'a' });
    if (env.VALUES_JSON_PATCH_PATH && output.values.length > 0) {
      writeFileSync(env.VALUES_JSON_PATCH_PATH, output.values.map((v) => JSON.stringify(v) + '\n').join(''), {
        flag: 'a',
      });
    }
  } catch (e) {
    // Nothing was written, so nothing in the cluster changes: the run is retried by the operator.
    const err = e as Error;
    process.stderr.write(
      JSON.stringify({
        level: 'error',
        msg: err instanceof BindingContextError ? err.message : String(err.stack ?? err),
      }) + '\n',
    );
    process.exitCode = 1;
  }
}
