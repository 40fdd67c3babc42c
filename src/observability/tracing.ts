import {
  context,
  diag,
  DiagLogLevel,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type DiagLogger,
  type Span,
} from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Telemetry } from 'bullmq';
import type { Config } from '../config.js';
import type { Logger } from './logger.js';

/**
 * OpenTelemetry tracing, off unless OTEL_EXPORTER_OTLP_ENDPOINT is set. Off
 * means no SDK module is even loaded: the helpers below then run on the API's
 * no-op tracer, which records nothing and injects no headers.
 *
 * One payment's trace: the InventoryReserved delivery (parent: its W3C
 * `traceparent` header) -> the BullMQ job (bullmq-otel carries the context in
 * the job's options) -> each gateway call -> the terminal event, whose outbox
 * row keeps the job's `traceparent` so the relay publishes it as an AMQP header.
 */

export const SERVICE_NAME = 'payment-service';

/** Span attribute names of our own; the payment method and customer are never among them. */
export const ATTR = {
  orderId: 'payment.order_id',
  paymentId: 'payment.id',
  gateway: 'payment.gateway',
  operation: 'payment.gateway.operation',
  outcome: 'payment.gateway.outcome',
  code: 'payment.gateway.code',
  consumed: 'payment.event.outcome',
} as const;

export interface Tracing {
  /** True when an SDK is installed and spans are exported. */
  readonly enabled: boolean;
  /** BullMQ's `telemetry` option for Queue and Worker: undefined when off, so BullMQ skips tracing altogether. */
  readonly bullmq: Telemetry | undefined;
  /** Exports what is still buffered and unregisters the SDK. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** Export here, span by span, instead of to the OTLP endpoint (tests: an InMemorySpanExporter). */
  exporter?: SpanExporter;
}

const TRACING_OFF: Tracing = Object.freeze({ enabled: false, bullmq: undefined, shutdown: async () => {} });

export async function initTracing(
  config: Pick<Config, 'OTEL_EXPORTER_OTLP_ENDPOINT'>,
  logger: Logger,
  options: TracingOptions = {},
): Promise<Tracing> {
  const endpoint = config.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint && !options.exporter) return TRACING_OFF;
  // Loaded only now, so a process without tracing never pays for the SDK.
  const [{ NodeTracerProvider, BatchSpanProcessor, SimpleSpanProcessor }, { resourceFromAttributes }, { BullMQOtel }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/resources'),
    import('bullmq-otel'),
  ]);
  const exporter = options.exporter ?? (await otlpExporter(endpoint!));
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': SERVICE_NAME, 'service.instance.id': `${process.pid}` }),
    // Batching keeps the export off the payment path; a test exporter wants each span as it ends.
    spanProcessors: [options.exporter ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter)],
  });
  // Export failures (collector down) go to our logs instead of vanishing; they never fail a payment.
  diag.setLogger(diagLogger(logger), DiagLogLevel.WARN);
  provider.register(); // AsyncLocalStorage context, W3C trace-context propagation
  logger.info({ otlp: endpoint ? new URL(endpoint).origin : 'in-process exporter' }, 'tracing on');
  return {
    enabled: true,
    bullmq: new BullMQOtel({ tracerName: SERVICE_NAME }),
    async shutdown() {
      try {
        await provider.shutdown();
      } finally {
        trace.disable();
        context.disable();
        propagation.disable();
        diag.disable();
      }
    },
  };
}

/** OTLP over HTTP/protobuf; the endpoint is the collector's base URL, as OpenTelemetry's variable defines it. */
async function otlpExporter(endpoint: string): Promise<SpanExporter> {
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter({ url: `${endpoint.replace(/\/+$/, '')}/v1/traces` });
}

function diagLogger(logger: Logger): DiagLogger {
  const log = logger.child({ component: 'tracing' });
  const quiet = () => {};
  return {
    error: (message) => log.warn(`tracing: ${message}`),
    warn: (message) => log.warn(`tracing: ${message}`),
    info: quiet,
    debug: quiet,
    verbose: quiet,
  };
}

export interface SpanSpec {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The parent from outside the process (message headers); default: the active context. */
  parent?: Context;
}

/**
 * Runs `work` in a new active span, ended when it settles; a throw marks the
 * span as an error and is rethrown. With tracing off the span is the API's
 * no-op and `work` runs as it would without it.
 */
export function inSpan<T>(name: string, spec: SpanSpec, work: (span: Span) => Promise<T>): Promise<T> {
  const options = { kind: spec.kind ?? SpanKind.INTERNAL, ...(spec.attributes ? { attributes: spec.attributes } : {}) };
  return trace.getTracer(SERVICE_NAME).startActiveSpan(name, options, spec.parent ?? context.active(), async (span) => {
    try {
      return await work(span);
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.name ?? 'error' });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Adds attributes to the span in progress (e.g. BullMQ's job span), if any. */
export function annotateActiveSpan(attributes: Attributes): void {
  trace.getActiveSpan()?.setAttributes(attributes);
}

const TRACE_KEYS = ['traceparent', 'tracestate'];

/** The trace context carried by message headers, as a parent for spans; an empty or bad header starts a new trace. */
export function contextFromHeaders(headers: Record<string, string> | undefined): Context {
  return propagation.extract(ROOT_CONTEXT, headers ?? {});
}

/** The W3C headers (`traceparent`, `tracestate`) of the active span; empty when tracing is off. */
export function traceHeaders(from: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(from, carrier);
  return Object.fromEntries(Object.entries(carrier).filter(([key]) => TRACE_KEYS.includes(key)));
}

/** The event with the active span's trace headers added (unchanged when there is no trace). */
export function withTraceHeaders<E extends { headers?: Record<string, string> }>(event: E): E {
  const headers = traceHeaders();
  return Object.keys(headers).length ? { ...event, headers: { ...event.headers, ...headers } } : event;
}
