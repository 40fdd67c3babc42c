import { ProxyTracerProvider, trace } from '@opentelemetry/api';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { contextFromHeaders, initTracing, inSpan, traceHeaders, withTraceHeaders } from '../../../src/observability/tracing.js';

const INCOMING = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** What the OpenTelemetry API keeps registered process-wide (tracer provider, context manager, propagator). */
function registeredGlobals(): Record<string, unknown> {
  return ((globalThis as Record<symbol, unknown>)[Symbol.for('opentelemetry.js.api.1')] ?? {}) as Record<string, unknown>;
}

describe('tracing when OTEL_EXPORTER_OTLP_ENDPOINT is unset', () => {
  it('then no SDK is registered and BullMQ gets no telemetry', async () => {
    const lines: string[] = [];
    const tracing = await initTracing(loadConfig({}), pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) }));

    expect(tracing.enabled).toBe(false);
    expect(tracing.bullmq).toBeUndefined();
    expect(registeredGlobals()).not.toHaveProperty('trace');
    expect(registeredGlobals()).not.toHaveProperty('propagation');
    const provider = trace.getTracerProvider() as ProxyTracerProvider;
    expect(provider.getDelegate().constructor.name).toBe('NoopTracerProvider');
    expect(lines.join('')).not.toContain('tracing on');
    await tracing.shutdown();
  });

  it('then spans record nothing and no trace headers are written, even under an incoming traceparent', async () => {
    const seen = await inSpan('process something', { parent: contextFromHeaders({ traceparent: INCOMING }) }, async (span) => ({
      recording: span.isRecording(),
      headers: traceHeaders(),
      event: withTraceHeaders({ id: 'e1', headers: { 'x-kept': 'yes' } }),
    }));
    expect(seen).toEqual({ recording: false, headers: {}, event: { id: 'e1', headers: { 'x-kept': 'yes' } } });
  });

  it('then a failing piece of work still fails the same way inside a span', async () => {
    await expect(inSpan('doomed', {}, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  });
});
