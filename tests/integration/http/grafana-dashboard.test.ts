import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { exportedMetrics } from '../../support/exported-metrics.js';

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; w: number };
  targets?: Array<{ expr: string }>;
}

const dashboard = JSON.parse(readFileSync(new URL('../../../grafana/payment-service.dashboard.json', import.meta.url), 'utf8')) as {
  uid: string;
  panels: Panel[];
};
const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
/** Every selector in the dashboard is written `name{...}`. */
const referenced = new Set(exprs.flatMap((e) => [...e.matchAll(/([a-z_:][a-z0-9_:]*)\{/g)].map((m) => m[1]!)));

describe('grafana/payment-service.dashboard.json', () => {
  it('when imported, then every query names a metric the service exports', async () => {
    const { all } = await exportedMetrics();
    expect(referenced.size).toBeGreaterThan(10);
    for (const name of referenced) expect(all.has(name), name).toBe(true);
  });

  it('when a metric is declared in metrics.ts, then a panel shows it', async () => {
    const { ours } = await exportedMetrics();
    const used = [...referenced].map((n) => n.replace(/_(bucket|sum|count)$/, ''));
    for (const name of ours) expect(used, name).toContain(name);
  });

  it('when laid out, then panels have unique ids and fit the 24-column grid', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    expect(dashboard.uid).toBe('payment-service');
  });
});
