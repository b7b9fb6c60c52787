// No dead alert and no empty dashboard panel: every metric an alert expression or a dashboard query
// names must be one the code emits. The emitted names come from the code itself: the hooks' metric
// operations (`metrics.set('...')` in lib/controller/apply.ts and hooks/*.ts) and the speaker's
// prom-client registry (names as prom-client exposes them: histograms as _bucket/_sum/_count).
// Renaming a metric in the code without the alerts fails here.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SpeakerMetrics } from '../../images/speaker/metrics';
import { load } from 'js-yaml';
import { parseValues } from '../../lib/settings';
import { ALERT_GROUPS, prometheusRule, SPEAKER_JOB, type AlertRule } from '../../templates/alerts';
import {
  dashboardModel,
  DASHBOARD_UID,
  grafanaDashboardConfigMap,
  grafanaDashboardDefinition,
} from '../../templates/dashboard';
import { renderModule, type KubernetesObject } from '../../templates';
import { hooksPodMonitor } from '../../templates/monitoring';

const root = join(__dirname, '..', '..');

// ---------------------------------------------------------------------------------------------
// The metric names the code emits
// ---------------------------------------------------------------------------------------------

/** Sources of hook metrics: the plan's metrics and whatever a hook sets itself. */
const HOOK_METRIC_SOURCES = [
  'lib/controller/apply.ts',
  ...readdirSync(join(root, 'hooks'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `hooks/${f}`),
];

/** `metrics.set('name', ...)` (and add/observe, should a hook ever use them) in a source file. */
function hookMetricNames(source: string): string[] {
  const text = readFileSync(join(root, source), 'utf8');
  return [...text.matchAll(/\bmetrics\.(?:set|add|observe)\(\s*['"`]([a-zA-Z_:][a-zA-Z0-9_:]*)['"`]/g)].map(
    (m) => m[1]!,
  );
}

/** Series names as Prometheus sees them for one metric of a prom-client registry. */
function exposedNames(name: string, type: string): string[] {
  switch (type) {
    case 'histogram':
      return [`${name}_bucket`, `${name}_sum`, `${name}_count`];
    case 'summary':
      return [name, `${name}_sum`, `${name}_count`];
    default:
      // prom-client exposes counters and gauges under the name they were given (no `_total` added).
      return [name];
  }
}

interface Emitted {
  hooks: Set<string>;
  speaker: Set<string>;
  /** Label names of each speaker metric (besides the target labels Prometheus adds). */
  speakerLabels: Map<string, readonly string[]>;
}

async function emittedMetrics(): Promise<Emitted> {
  const hooks = new Set(HOOK_METRIC_SOURCES.flatMap(hookMetricNames));
  const metrics = new SpeakerMetrics();
  const speaker = new Set<string>();
  const speakerLabels = new Map<string, readonly string[]>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    const labelNames =
      (metrics.registry.getSingleMetric(m.name) as unknown as { labelNames?: readonly string[] })
        .labelNames ?? [];
    for (const n of exposedNames(m.name, String(m.type))) {
      speaker.add(n);
      speakerLabels.set(
        n,
        String(m.type) === 'histogram' && n.endsWith('_bucket') ? [...labelNames, 'le'] : labelNames,
      );
    }
  }
  return { hooks, speaker, speakerLabels };
}

/** Series Prometheus makes itself for every target. */
const PROMETHEUS_SERIES = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);
/** Labels a scraped series carries from its target: the PodMonitor adds `node` (monitoring.ts). */
const TARGET_LABELS = ['job', 'instance', 'namespace', 'pod', 'container', 'endpoint', 'node'];

// ---------------------------------------------------------------------------------------------
// A small PromQL reader: enough to find the metric names and grouping labels of an expression and
// to refuse one that is not well formed (unbalanced brackets, unknown functions, stray tokens).
// ---------------------------------------------------------------------------------------------

const AGGREGATIONS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
]);
const FUNCTIONS = new Set([
  'abs',
  'absent',
  'absent_over_time',
  'ceil',
  'changes',
  'clamp',
  'clamp_max',
  'clamp_min',
  'day_of_month',
  'day_of_week',
  'day_of_year',
  'days_in_month',
  'delta',
  'deriv',
  'exp',
  'floor',
  'histogram_avg',
  'histogram_count',
  'histogram_fraction',
  'histogram_quantile',
  'histogram_sum',
  'histogram_stddev',
  'histogram_stdvar',
  'holt_winters',
  'hour',
  'idelta',
  'increase',
  'irate',
  'label_join',
  'label_replace',
  'ln',
  'log2',
  'log10',
  'minute',
  'month',
  'predict_linear',
  'rate',
  'resets',
  'round',
  'scalar',
  'sgn',
  'sort',
  'sort_desc',
  'sqrt',
  'time',
  'timestamp',
  'vector',
  'year',
  'avg_over_time',
  'min_over_time',
  'max_over_time',
  'sum_over_time',
  'count_over_time',
  'quantile_over_time',
  'stddev_over_time',
  'stdvar_over_time',
  'last_over_time',
  'present_over_time',
]);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan']);

type Token = { kind: 'ident' | 'string' | 'number' | 'var' | 'punct' | 'op'; text: string };

function tokenize(expr: string): Token[] {
  const rules: [Token['kind'] | 'skip', RegExp][] = [
    ['skip', /^(\s+|#[^\n]*)/],
    ['string', /^("(\\.|[^"\\])*"|'(\\.|[^'\\])*'|`[^`]*`)/],
    ['var', /^\$(\{[A-Za-z_]\w*\}|[A-Za-z_]\w*)/],
    ['number', /^(0x[0-9a-fA-F]+|([0-9]+(ms|[smhdwy]))+|[0-9]*\.?[0-9]+([eE][+-]?[0-9]+)?)/],
    ['ident', /^[A-Za-z_:][A-Za-z0-9_:]*/],
    ['op', /^(==|!=|<=|>=|=~|!~|[-+*/%^<>=])/],
    ['punct', /^[(){}[\],@]/],
  ];
  const tokens: Token[] = [];
  let rest = expr;
  while (rest.length > 0) {
    const rule = rules.find(([, re]) => re.test(rest));
    if (!rule) throw new Error(`unexpected ${JSON.stringify(rest.slice(0, 20))} in ${expr}`);
    const text = rule[1].exec(rest)![0];
    if (rule[0] !== 'skip') tokens.push({ kind: rule[0], text });
    rest = rest.slice(text.length);
  }
  return tokens;
}

interface PromQLSummary {
  metrics: string[];
  /** Labels named in `by (...)` clauses. */
  byLabels: string[];
  /** Whether any aggregation drops labels (then only `by` labels survive). */
  aggregates: boolean;
}

function readPromQL(expr: string): PromQLSummary {
  const tokens = tokenize(expr);
  const metrics: string[] = [];
  const byLabels: string[] = [];
  let aggregates = false;
  const closers: string[] = [];
  const pairs: Record<string, string> = { '(': ')', '{': '}', '[': ']' };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const next = tokens[i + 1];
    const inside = closers[closers.length - 1];
    if (t.kind === 'punct' && t.text in pairs) {
      closers.push(pairs[t.text]!);
      continue;
    }
    if (t.kind === 'punct' && (t.text === ')' || t.text === '}' || t.text === ']')) {
      if (closers.pop() !== t.text) throw new Error(`unbalanced ${t.text} in ${expr}`);
      continue;
    }
    if (inside === ']') continue; // a range or subquery: durations and variables only
    if (inside === '}') {
      // Label matchers: name op "value"; `__name__="x"` selects metric x.
      if (t.kind === 'ident' && t.text === '__name__' && next?.text === '=') {
        const value = tokens[i + 2];
        if (value?.kind === 'string') metrics.push(value.text.slice(1, -1));
      }
      continue;
    }
    if (t.kind !== 'ident') continue;
    if (GROUPING.has(t.text)) {
      if (next?.text !== '(') {
        if (t.text.startsWith('group_')) continue;
        throw new Error(`${t.text} without a label list in ${expr}`);
      }
      let j = i + 2;
      for (; j < tokens.length && tokens[j]!.text !== ')'; j++) {
        const label = tokens[j]!;
        if (label.text === ',') continue;
        if (label.kind !== 'ident')
          throw new Error(`${label.text} in the label list of ${t.text} in ${expr}`);
        if (t.text === 'by') byLabels.push(label.text);
      }
      if (j === tokens.length) throw new Error(`unclosed label list of ${t.text} in ${expr}`);
      i = j;
      continue;
    }
    if (AGGREGATIONS.has(t.text) && (next?.text === '(' || next?.text === 'by' || next?.text === 'without')) {
      aggregates = true;
      continue;
    }
    if (next?.text === '(') {
      if (!FUNCTIONS.has(t.text)) throw new Error(`unknown function ${t.text} in ${expr}`);
      continue;
    }
    if (KEYWORDS.has(t.text)) continue;
    metrics.push(t.text);
  }
  if (closers.length > 0) throw new Error(`unclosed ${closers.join('')} in ${expr}`);
  return { metrics, byLabels, aggregates };
}

/** Grafana's `label_values(<series selector>, <label>)` variable query, or a plain PromQL query. */
function readGrafanaQuery(query: string): PromQLSummary {
  const m = /^label_values\((.*),\s*([A-Za-z_]\w*)\s*\)$/.exec(query.trim());
  return readPromQL(m ? m[1]! : query);
}

/** The metric names in `names` that nothing emits. */
function unknownMetrics(names: readonly string[], emitted: Emitted): string[] {
  return names.filter((n) => !emitted.hooks.has(n) && !emitted.speaker.has(n) && !PROMETHEUS_SERIES.has(n));
}

// ---------------------------------------------------------------------------------------------
// What to check: every alert expression, every dashboard query
// ---------------------------------------------------------------------------------------------

const alerts: AlertRule[] = ALERT_GROUPS.flatMap((g) => [...g.rules]);

interface DashboardQuery {
  where: string;
  query: string;
}

function dashboardQueries(model: Record<string, unknown>): DashboardQuery[] {
  type Panel = { title?: string; targets?: { expr?: string; refId?: string }[]; panels?: Panel[] };
  type Variable = { name: string; type: string; query?: string | { query?: string } };
  const out: DashboardQuery[] = [];
  const walk = (panels: Panel[]): void => {
    for (const p of panels) {
      for (const t of p.targets ?? [])
        if (t.expr !== undefined) out.push({ where: `panel "${p.title}" ${t.refId ?? ''}`, query: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk((model.panels ?? []) as Panel[]);
  for (const v of (model.templating as { list: Variable[] }).list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    if (q !== undefined) out.push({ where: `variable $${v.name}`, query: q });
  }
  return out;
}

let emitted: Emitted;
beforeAll(async () => {
  emitted = await emittedMetrics();
});

describe('the metric names the code emits', () => {
  it('are found in the hooks and in the speaker registry', () => {
    expect([...emitted.hooks]).toEqual(
      expect.arrayContaining([
        'l2lb_pool_addresses_total',
        'l2lb_pool_addresses_allocated',
        'l2lb_settings_valid',
      ]),
    );
    expect([...emitted.speaker]).toEqual(
      expect.arrayContaining([
        'l2lb_speaker_announced_addresses',
        'l2lb_speaker_takeovers_total',
        'l2lb_speaker_takeover_duration_seconds_bucket',
        'l2lb_speaker_takeover_duration_seconds_count',
      ]),
    );
    // A histogram is never queried under its bare name: Prometheus has no such series.
    expect(emitted.speaker.has('l2lb_speaker_takeover_duration_seconds')).toBe(false);
  });
});

describe('reading PromQL', () => {
  it('finds metric names, not functions, keywords, labels, durations or variables', () => {
    const read = readPromQL(
      'histogram_quantile(0.9, sum by (le, node) (rate(a_bucket{node=~"$node", job="x"}[$__rate_interval])))' +
        ' / on (node) group_left (pool) max without (pod) (b offset 5m) > bool 1 or vector(0)' +
        ' unless {__name__="c:recorded"}',
    );
    expect(read.metrics.sort()).toEqual(['a_bucket', 'b', 'c:recorded']);
    expect(read.byLabels).toEqual(['le', 'node']);
    expect(read.aggregates).toBe(true);
  });

  it('refuses expressions that are not well formed', () => {
    expect(() => readPromQL('sum(rate(x[5m])')).toThrow(/unclosed/);
    expect(() => readPromQL('rat(x[5m])')).toThrow(/unknown function rat/);
    expect(() => readPromQL('x{job="a"]')).toThrow(/unbalanced/);
    expect(() => readPromQL('sum by x (y)')).toThrow(/without a label list/);
  });

  it('reads the series selector of a Grafana label_values() variable', () => {
    expect(readGrafanaQuery('label_values(up{job="j"}, node)').metrics).toEqual(['up']);
  });

  it('catches a metric that is renamed in the code', () => {
    const renamed: Emitted = {
      ...emitted,
      speaker: new Set([...emitted.speaker].filter((n) => n !== 'l2lb_speaker_takeovers_total')),
    };
    const dead = dashboardQueries(dashboardModel()).filter(
      (q) => unknownMetrics(readGrafanaQuery(q.query).metrics, renamed).length > 0,
    );
    expect(dead.map((q) => q.where)).toEqual(['panel "Takeovers" A']);
  });
});

describe('the alerts', () => {
  it.each(alerts.map((a) => [a.alert, a] as const))('%s reads only metrics the code emits', (_name, a) => {
    const { metrics } = readPromQL(a.expr);
    expect(metrics.length).toBeGreaterThan(0);
    expect(unknownMetrics(metrics, emitted)).toEqual([]);
  });

  it.each(alerts.map((a) => [a.alert, a] as const))(
    '%s names in its annotations only labels its expression keeps',
    (_name, a) => {
      const { metrics, byLabels, aggregates } = readPromQL(a.expr);
      const kept = aggregates
        ? new Set(byLabels)
        : new Set([...TARGET_LABELS, ...metrics.flatMap((m) => emitted.speakerLabels.get(m) ?? [])]);
      const used = [...`${a.summary}\n${a.description}`.matchAll(/\$labels\.([A-Za-z_]\w*)/g)].map(
        (m) => m[1]!,
      );
      expect(used.filter((l) => !kept.has(l))).toEqual([]);
    },
  );

  it('has unique names, a duration, a severity, a summary and a description each', () => {
    expect(new Set(alerts.map((a) => a.alert)).size).toBe(alerts.length);
    for (const a of alerts) {
      expect(a.alert).toMatch(/^L2LB[A-Z][A-Za-z]+$/);
      expect(a.for).toMatch(/^[0-9]+[smh]$/);
      expect(['critical', 'warning', 'info']).toContain(a.severity);
      expect(a.summary.length).toBeGreaterThan(10);
      expect(a.description.length).toBeGreaterThan(a.summary.length);
    }
  });

  it('cover what the issue asks: exhaustion, short Services, unannounced and doubly announced addresses, speakers down', () => {
    const byName = new Map(alerts.map((a) => [a.alert, a]));
    const exhausted = byName.get('L2LBPoolNearlyExhausted')!;
    expect(exhausted.expr).toMatch(/l2lb_pool_addresses_allocated.*\/.*l2lb_pool_addresses_total.*> 0\.9$/);
    expect(exhausted.for).toBe('15m');
    expect(byName.get('L2LBServiceShortOfAddresses')!.expr).toContain('l2lb_service_public_ips_missing');
    // Per address, not totals: one missing and one doubled address do not cancel out.
    expect(byName.get('L2LBAddressesNotAnnounced')!.expr).toContain(
      'count by (address, l2loadbalancer) (l2lb_speaker_address_announced)',
    );
    expect(byName.get('L2LBAddressAnnouncedTwice')!.expr).toBe(
      'count by (address) (l2lb_speaker_address_announced) > 1',
    );
    expect(byName.get('L2LBAddressConflict')!.expr).toBe(
      'increase(l2lb_speaker_address_conflicts_total[10m]) > 0',
    );
    expect(byName.get('L2LBSpeakerDown')!.expr).toBe(`up{job="${SPEAKER_JOB}"} == 0`);
    expect(byName.get('L2LBSpeakerLeaseRenewFailing')!.expr).toContain(
      'l2lb_speaker_lease_renew_failures_total',
    );
  });

  it('select the speakers by the job prometheus-operator gives the rendered PodMonitor', () => {
    const podMonitor = renderModule(values).find((o) => o.kind === 'PodMonitor')!;
    expect(SPEAKER_JOB).toBe(`${podMonitor.metadata.namespace}/${podMonitor.metadata.name}`);
    const jobs = [...alerts.map((a) => a.expr), ...dashboardQueries(dashboardModel()).map((q) => q.query)]
      .flatMap((e) => [...e.matchAll(/\bjob="([^"]*)"/g)])
      .map((m) => m[1]);
    expect(jobs.length).toBeGreaterThan(0);
    expect(new Set(jobs)).toEqual(new Set([SPEAKER_JOB]));
  });

  it('render as a PrometheusRule that Deckhouse selects: prometheus=main, component=rules', () => {
    const rule = prometheusRule();
    expect(rule).toMatchObject({
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { namespace: 'd8-l2-load-balancer', labels: { prometheus: 'main', component: 'rules' } },
    });
    const rendered = (rule.spec as { groups: { rules: Record<string, unknown>[] }[] }).groups.flatMap(
      (g) => g.rules,
    );
    expect(rendered.map((r) => r.alert)).toEqual(alerts.map((a) => a.alert));
    for (const r of rendered) {
      expect(r.labels).toMatchObject({
        severity: expect.any(String),
        severity_level: expect.stringMatching(/^[1-9]$/),
      });
      expect(r.annotations).toMatchObject({ summary: expect.any(String), description: expect.any(String) });
    }
  });
});

describe('the dashboard', () => {
  const queries = dashboardQueries(dashboardModel());

  it.each(queries.map((q) => [q.where, q.query] as const))(
    '%s reads only metrics the code emits',
    (_w, query) => {
      const { metrics } = readGrafanaQuery(query);
      expect(metrics.length).toBeGreaterThan(0);
      expect(unknownMetrics(metrics, emitted)).toEqual([]);
    },
  );

  it('shows pool use, addresses per node, takeovers, the gratuitous ARP rate and Lease renew failures', () => {
    const all = queries.map((q) => q.query).join('\n');
    for (const metric of [
      'l2lb_pool_addresses_allocated',
      'l2lb_pool_addresses_total',
      'l2lb_speaker_announced_addresses',
      'l2lb_speaker_takeovers_total',
      'l2lb_speaker_gratuitous_sent_total',
      'l2lb_speaker_lease_renew_failures_total',
    ])
      expect(all).toContain(metric);
  });

  it('lays its panels out on the 24-column grid without overlaps', () => {
    type Grid = { x: number; y: number; w: number; h: number };
    const grids = (dashboardModel().panels as { gridPos: Grid }[]).map((p) => p.gridPos);
    for (const g of grids) expect(g.x + g.w).toBeLessThanOrEqual(24);
    for (const [i, a] of grids.entries())
      for (const b of grids.slice(i + 1)) {
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        expect(overlap).toBe(false);
      }
  });

  it('ships the same JSON in the sidecar ConfigMap and in the Deckhouse GrafanaDashboardDefinition', () => {
    const configMap = grafanaDashboardConfigMap();
    expect(configMap.metadata.labels).toMatchObject({ grafana_dashboard: '1' });
    const json = (configMap.data as Record<string, string>)[`${DASHBOARD_UID}.json`]!;
    expect(JSON.parse(json)).toEqual(dashboardModel());
    const definition = grafanaDashboardDefinition();
    expect(definition).toMatchObject({ apiVersion: 'deckhouse.io/v1', kind: 'GrafanaDashboardDefinition' });
    expect(JSON.parse((definition.spec as { definition: string }).definition)).toEqual(dashboardModel());
  });
});

const parsedValues = parseValues(
  load(readFileSync(join(root, 'tests/fixtures/values/minimal.yaml'), 'utf8')),
);
if (!parsedValues.ok) throw new Error(parsedValues.errors.join('; '));
const values = parsedValues.values;

describe('the standalone hooks PodMonitor', () => {
  it("scrapes shell-operator's /metrics/hooks and keeps the hooks' own namespace label", () => {
    expect(hooksPodMonitor().spec).toMatchObject({
      selector: { matchLabels: { app: 'hooks' } },
      podMetricsEndpoints: [{ port: 'metrics', path: '/metrics/hooks', honorLabels: true }],
    });
  });
});

describe('renderModule', () => {
  const kinds = (objects: KubernetesObject[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`);

  it('renders the alerts and the dashboard with the PodMonitor, where prometheus-operator runs', () => {
    expect(kinds(renderModule(values))).toEqual(
      expect.arrayContaining([
        'PodMonitor/speaker',
        'PrometheusRule/l2-load-balancer',
        'ConfigMap/l2-load-balancer-dashboard',
      ]),
    );
  });

  it('leaves them out with the PodMonitor where the prometheus-operator CRDs are missing', () => {
    const objects = kinds(renderModule(values, { podMonitor: false }));
    expect(objects.filter((k) => /^(PodMonitor|PrometheusRule)\//.test(k))).toEqual([]);
    expect(objects).not.toContain('ConfigMap/l2-load-balancer-dashboard');
  });
});
