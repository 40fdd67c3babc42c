import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { trace } from '@opentelemetry/api';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { initTracing, inSpan, traceHeaders } from '../../../src/observability/tracing.js';

/** A stand-in OTLP collector on loopback: it records each request and answers 200. */
const received: Array<{ method: string; url: string; contentType: string; body: Buffer }> = [];
const collector = createServer((req: IncomingMessage, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    received.push({ method: req.method ?? '', url: req.url ?? '', contentType: String(req.headers['content-type']), body: Buffer.concat(chunks) });
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
  });
});
let endpoint: string;

beforeAll(async () => {
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  await new Promise((resolve) => collector.close(resolve));
});

describe('tracing when OTEL_EXPORTER_OTLP_ENDPOINT is set', () => {
  it('then spans are recorded, carry W3C headers, and are exported to <endpoint>/v1/traces as OTLP protobuf on shutdown', async () => {
    const lines: string[] = [];
    const config = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint });
    const tracing = await initTracing(config, pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }));
    expect(tracing.enabled).toBe(true);
    expect(tracing.bullmq).toBeDefined();

    const inside = await inSpan('gateway charge', { attributes: { 'payment.order_id': 'order-otlp-test' } }, async (span) => ({
      recording: span.isRecording(),
      traceId: span.spanContext().traceId,
      headers: traceHeaders(),
    }));
    expect(inside.recording).toBe(true);
    expect(inside.headers.traceparent).toMatch(new RegExp(`^00-${inside.traceId}-[0-9a-f]{16}-01$`));

    await tracing.shutdown(); // flushes the batch
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ method: 'POST', url: '/v1/traces', contentType: 'application/x-protobuf' });
    // Protobuf keeps strings as they are: the span's name and attribute are in the body.
    expect(received[0]!.body.toString('latin1')).toContain('gateway charge');
    expect(received[0]!.body.toString('latin1')).toContain('order-otlp-test');
    expect(lines.join('')).toContain('tracing on');

    // Shut down means unregistered: spans are no-ops again.
    expect(trace.getTracer('after').startSpan('x').isRecording()).toBe(false);
  });
});
