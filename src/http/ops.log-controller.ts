import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * Fastify's request lines at debug, not info: scrapes, probes and the chart's
 * polling would otherwise drown the worker's own logs. Errors keep their
 * level (5xx from the default error handler are still logged as errors).
 * Only method, route, status and time are logged: never headers, so the
 * Authorization header cannot reach a log line.
 */
export class OpsLogController extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = {
      method: request.method,
      route: request.routeOptions.url ?? null,
      statusCode: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
    };
    if (error) reply.log.error({ ...line, err: error }, 'ops request errored');
    else if (reply.statusCode >= 500) reply.log.warn(line, 'ops request failed');
    else reply.log.debug(line, 'ops request');
  }

  override routeNotFound(request: FastifyRequest): void {
    request.log.debug({ method: request.method }, 'ops route not found');
  }
}
