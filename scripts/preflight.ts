// `npm test` runs this first: the suite needs real PostgreSQL, Redis and RabbitMQ.
import { ensureServices } from '../src/preflight.js';
import { servicesOf } from '../src/services.js';

const services = servicesOf({
  DATABASE_URL: process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
  AMQP_URL: process.env.TEST_AMQP_BASE_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
});
const problems = await ensureServices(services, (line) => console.log(`npm test: ${line}`));
if (problems.length) {
  for (const p of problems) console.error(`npm test: ${p}`);
  process.exit(1);
}
