// An experiment behind the benchmark's advice (not part of `npm run bench`):
// what BullMQ itself costs per job at a steady offered rate against flat out.
// Plain BullMQ, nothing of this service: a no-op processor (concurrency 20),
// one `add` per job. Counts Redis commands per job (INFO commandstats:
// server-wide, so run it on a quiet machine) and the CPU of this process
// (producer and worker together) and of Redis per job. At low rates every job wakes the blocked worker
// (BZPOPMIN) and is fetched with its own moveToActive, plus the fetches that
// find nothing; flat out the next job rides on the previous one's
// moveToFinished. `npm run bench -- --profile --rate 100` shows the same
// calls in the service.
//   npx tsx scripts/bench/experiments/bullmq-fetch.ts [jobs per rate=1500] [rates=50,200,flat]
import { randomBytes } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { dropRedisPrefix } from '../../../tests/support/isolation.js';
import { servicesCpu } from '../proc-stats.js';

const N = Number(process.argv[2] ?? 1500);
const RATES = (process.argv[3] ?? '50,200,flat').split(',');
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `{bullmq-fetch-${randomBytes(3).toString('hex')}}`;

async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info('commandstats');
  return new Map([...info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
}

const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
const stats = new Redis(REDIS_URL);
const queue = new Queue('fetch', { connection, prefix });
let completed = 0;
let onCompleted = () => {};
const worker = new Worker('fetch', async () => {}, { connection, prefix, concurrency: 20, removeOnComplete: { count: 1000 } });
worker.on('completed', () => {
  completed++;
  onCompleted();
});
try {
  await worker.waitUntilReady();
  console.log(`BullMQ, no-op processor, concurrency 20, ${N} jobs per row, one add per job`);
  console.log('offered    jobs/s  evalsha/job  bzpopmin/job  client CPU ms/job  Redis CPU ms/job (server-wide)');
  let seq = 0;
  for (const rate of RATES) {
    const target = completed + N;
    const done = new Promise<void>((resolve) => (onCompleted = () => completed >= target && resolve()));
    const before = await commandCalls(stats);
    const cpu = process.cpuUsage();
    const redisBefore = servicesCpu().redis;
    const started = performance.now();
    if (rate === 'flat') {
      let next = 0;
      await Promise.all(Array.from({ length: 20 }, async () => {
        while (next++ < N) await queue.add('job', {}, { jobId: `j${seq++}` });
      }));
    } else {
      const perS = Number(rate);
      for (let i = 0; i < N; i++) {
        const due = started + (i * 1000) / perS;
        if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
        void queue.add('job', {}, { jobId: `j${seq++}` });
      }
    }
    await done;
    const wallS = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    const redisS = servicesCpu().redis - redisBefore;
    const after = await commandCalls(stats);
    const per = (cmd: string) => (((after.get(cmd) ?? 0) - (before.get(cmd) ?? 0)) / N).toFixed(2);
    console.log(
      `${rate.padEnd(8)} ${(N / wallS).toFixed(0).padStart(8)}  ${per('evalsha').padStart(11)}  ${per('bzpopmin').padStart(12)}  ` +
        `${((used.user + used.system) / 1000 / N).toFixed(3).padStart(17)}  ${((redisS * 1000) / N).toFixed(3).padStart(16)}`,
    );
  }
} finally {
  await worker.close();
  await queue.close();
  connection.disconnect();
  stats.disconnect();
  await dropRedisPrefix(REDIS_URL, prefix);
}
