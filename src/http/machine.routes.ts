import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AnyStateMachine } from 'xstate';
import type { PaymentsRepository } from '../persistence/payments.repository.js';
import { layoutChart, type ChartLayout } from './chart/chart.layout.js';
import { chartStats, type ChartStats } from './chart/chart.stats.js';
import { toMachineConfig, toMermaid } from './chart/machine.export.js';
import { machineGraph, type StateChart } from './chart/machine.graph.js';
import { machinePage } from './pages/machine.page.js';

export const STATS_WINDOW_SECONDS = 3600;

export interface MachineRouteDeps {
  /** Drawn as it is: change the machine and every view of it follows. */
  machine: AnyStateMachine;
  machineVersion: number;
  payments: Pick<PaymentsRepository, 'countByStatus' | 'transitionCountsSince'>;
  /** Path the chart is served at, e.g. "/machines/payment". */
  basePath: string;
  pollMs?: number;
  now?: () => Date;
}

/** The machine's graph and layout, computed once: the machine does not change while the process runs. */
export interface DrawnMachine {
  chart: StateChart;
  layout: ChartLayout;
}

export function drawMachine(machine: AnyStateMachine): DrawnMachine {
  const chart = machineGraph(machine);
  return { chart, layout: layoutChart(chart) };
}

export async function loadStats(deps: MachineRouteDeps, chart: StateChart): Promise<ChartStats> {
  const at = (deps.now ?? (() => new Date()))();
  const since = new Date(at.getTime() - STATS_WINDOW_SECONDS * 1000);
  const [counts, moves] = await Promise.all([deps.payments.countByStatus(), deps.payments.transitionCountsSince(since)]);
  return chartStats(chart, counts, moves, { at, seconds: STATS_WINDOW_SECONDS });
}

export function registerMachineRoutes(app: FastifyInstance, deps: MachineRouteDeps): DrawnMachine {
  const drawn = drawMachine(deps.machine);
  const mermaid = toMermaid(drawn.chart);
  const config = toMachineConfig(deps.machine);
  const base = deps.basePath;

  const sendMermaid = (reply: FastifyReply) => reply.type('text/plain; charset=utf-8').send(mermaid);

  app.get<{ Querystring: { format?: string } }>(base, async (request, reply) => {
    if (request.query.format === 'mermaid') return sendMermaid(reply);
    if (request.query.format === 'json') return config;
    const stats = await loadStats(deps, drawn.chart);
    return reply.type('text/html; charset=utf-8').send(
      machinePage({ ...drawn, stats, machineVersion: deps.machineVersion, basePath: base, pollMs: deps.pollMs ?? 3000 }),
    );
  });
  app.get(`${base}.mmd`, async (_request, reply) => sendMermaid(reply));
  app.get(`${base}.json`, async () => config);
  app.get(`${base}/stats`, async (_request, reply) => reply.header('cache-control', 'no-store').send(await loadStats(deps, drawn.chart)));
  return drawn;
}
