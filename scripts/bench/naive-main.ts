// The naive peer as its own process, so the benchmark measures its CPU and
// RSS exactly as it measures a worker's. Reads the worker's variables.
import { startNaivePipeline } from './naive-pipeline.js';

const env = process.env;
const pipeline = await startNaivePipeline({
  amqpUrl: env.AMQP_URL!,
  redisUrl: env.REDIS_URL!,
  databaseUrl: env.DATABASE_URL!,
  prefix: env.QUEUE_PREFIX!,
  concurrency: Number(env.WORKER_CONCURRENCY ?? 50),
  prefetch: Number(env.AMQP_PREFETCH ?? 200),
  ...(env.NAIVE_GATEWAY_URL ? { gatewayUrl: env.NAIVE_GATEWAY_URL } : {}),
});
console.log(JSON.stringify({ msg: 'naive peer ready', pid: process.pid }));

const stop = () => {
  void pipeline.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
