/**
 * The Grafana dashboards in grafana/: every ClickHouse query (panels and variables), with the
 * ClickHouse plugin's macros expanded as the plugin expands them, runs and returns rows against
 * a ClickHouse 18.16 server and the embedded store (through the gateway's query path, as
 * http.clickhouse_bind serves it); every metric a Prometheus panel names is exported, with the
 * labels the panel groups by.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RawPublisher } from '../../bench/lib/raw-mqtt.mjs';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { ROOT } from '../helpers/gateway.js';
import { localAndServer, serverSql } from '../helpers/clickhouse-server.js';
import { waitFor } from '../helpers/ports.js';
import { cleanupsAfterAll } from '../helpers/cleanups.js';

const cleanups = cleanupsAfterAll();
const DIR = join(ROOT, 'grafana/dashboards');

interface Target {
  expr?: string;
  rawSql?: string;
  legendFormat?: string;
}
interface Dashboard {
  title: string;
  panels: Array<{ title: string; datasource: { type: string }; targets: Target[] }>;
  templating: { list: Array<{ name: string; type: string; query: string }> };
}
const dashboards: Dashboard[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Dashboard);

/** The ClickHouse plugin's macros and the variables, for a time range in seconds. */
function expand(sql: string, from: number, to: number, db: string): string {
  return sql
    .replace(/\$__timeFilter\((\w+)\)/g, (_, c: string) => `${c} >= toDateTime(${from}) AND ${c} <= toDateTime(${to})`)
    .replace(/\$__interval_s\b/g, '60')
    .replace(/\$__fromTime/g, `toDateTime(${from})`)
    .replace(/\$__toTime/g, `toDateTime(${to})`)
    .replace(/\$\{device:singlequote\}/g, "'press0','press1'")
    .replace(/\$\{tag:singlequote\}/g, "'temp'")
    .replace(/\bfieldgate\./g, `${db}.`);
}

describe('Grafana dashboards', () => {
  it('every metric a Prometheus panel names is exported, with the labels it uses', () => {
    const metrics = createMetrics(undefined, false);
    const byName = new Map<string, string[]>();
    for (const m of metrics.registry.getMetricsAsArray()) byName.set(m.name, (m as unknown as { labelNames: string[] }).labelNames ?? []);
    let n = 0;
    for (const d of dashboards)
      for (const p of d.panels.filter((x) => x.datasource.type === 'prometheus'))
        for (const t of p.targets) {
          for (const [name] of t.expr!.matchAll(/fieldgate_[a-z0-9_]+/g)) {
            const base = name.replace(/_(bucket|sum|count)$/, '');
            const labels = byName.get(base) ?? byName.get(name);
            expect(labels, `${d.title} / ${p.title}: ${name}`).toBeDefined();
            const used = [...(t.expr!.match(/by \(([^)]*)\)/g) ?? [])].flatMap((b) => b.slice(4, -1).split(',').map((s) => s.trim()));
            const legend = [...(t.legendFormat ?? '').matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]);
            // Each label is the metric's own (le belongs to histograms); one metric per expression here.
            for (const l of [...used, ...legend]) if (l !== 'le') expect(labels, `${d.title} / ${p.title}: ${name} has no label ${l}`).toContain(l);
            n++;
          }
        }
    expect(n).toBeGreaterThan(10);
  });

  it('every ClickHouse query runs and returns rows on ClickHouse 18.16 and on the embedded store', async () => {
    const db = `fg_grafana_${process.pid}`;
    const g = await localAndServer(db, cleanups);
    const now = Date.now();
    const pub = new RawPublisher({ port: g.mqttPort, clientId: 'grafana', qos: 1, inflight: 50 });
    await pub.connect();
    for (let i = 0; i < 120; i++) {
      await pub.room();
      pub.publish(`json/press${i % 2}`, JSON.stringify([{ tag: 'temp', ts: now - (120 - i) * 30_000, value: 20 + (i % 7) }]));
    }
    while (pub.pending.size > 0) await new Promise((r) => setTimeout(r, 10));
    pub.close();
    await waitFor('both sinks caught up', async () => (await g.readyz()).body.sinks.every((s) => s.lagBytes === 0 && s.state === 'connected'), 60_000, 100);

    const server = serverSql;
    const from = Math.floor(now / 1000) - 3 * 3600;
    const to = Math.floor(now / 1000) + 60;
    let n = 0;
    for (const d of dashboards) {
      const queries = [
        ...d.panels.filter((p) => p.datasource.type === 'grafana-clickhouse-datasource').flatMap((p) => p.targets.map((t) => [p.title, t.rawSql!] as const)),
        ...d.templating.list.filter((v) => v.type === 'query').map((v) => [`variable ${v.name}`, v.query] as const),
      ];
      for (const [title, sql] of queries) {
        const onServer = await server(expand(sql, from, to, db));
        expect(onServer, `${d.title} / ${title} on ClickHouse 18.16`).not.toBe('');
        const embedded = await g.query(expand(sql, from, to, 'fieldgate'));
        expect(embedded, `${d.title} / ${title} on the embedded store`).not.toBe('');
        n++;
      }
    }
    expect(n).toBeGreaterThanOrEqual(8);
    await server(`DROP DATABASE ${db}`);
  });
});
