import type { Random } from './prng.js';
import type { SimulatorSettings } from './simulator.settings.js';

/** What the dice decided for one API request, drawn when it arrives. */
export interface RequestRoll {
  latencyMs: number;
  /** A fault that answers (or does not) before anything is charged. */
  beforeCharge?: 'error' | 'rate_limit' | 'timeout';
  /** Charge as usual, then cut the connection instead of answering. */
  loseResponse: boolean;
  /** Compared with the success rate for payment methods that are not named test tokens. */
  successRoll: number;
}

/**
 * Always the same number of draws in the same order, whatever the outcome,
 * so a seeded run repeats exactly for the same sequence of requests. Each
 * fault is its own probability; when several hit, the first listed wins.
 */
export function rollRequest(random: Random, settings: SimulatorSettings): RequestRoll {
  const [latency, error, rateLimit, timeout, lost, success] = [random(), random(), random(), random(), random(), random()] as const;
  const { min, max } = settings.latencyMs;
  const beforeCharge =
    error < settings.errorRate
      ? 'error'
      : rateLimit < settings.rateLimitRate
        ? 'rate_limit'
        : timeout < settings.timeoutRate
          ? 'timeout'
          : undefined;
  return {
    latencyMs: min + Math.floor(latency * (max - min + 1)),
    beforeCharge,
    loseResponse: lost < settings.lostResponseRate,
    successRoll: success,
  };
}
