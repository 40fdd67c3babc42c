import client from 'prom-client';
import { createMetrics } from '../../src/observability/metrics.js';

/**
 * What a scrape of the service can show, for the checks of what names it
 * (the Grafana dashboard, the alerting rules): `all`, every series name,
 * a histogram's _bucket/_sum/_count included; `ours`, the names declared in
 * metrics.ts (the default process metrics left out).
 */
export async function exportedMetrics(): Promise<{ all: Set<string>; ours: string[] }> {
  const metrics = createMetrics(new client.Registry());
  const json = await metrics.register.getMetricsAsJSON();
  const all = new Set<string>();
  for (const m of json) {
    all.add(m.name);
    if (String(m.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) all.add(`${m.name}${suffix}`);
  }
  const ours = Object.entries(metrics)
    .filter(([key]) => key !== 'register')
    .map(([, metric]) => (metric as unknown as { name: string }).name);
  return { all, ours };
}
