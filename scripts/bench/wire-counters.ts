import { createHash } from 'node:crypto';
import net from 'node:net';

/**
 * A TCP proxy in front of PostgreSQL that reads the client's side of the
 * protocol: every simple Query and every Sync ends in one ReadyForQuery, so
 * their count is the number of round trips; Parse and Query carry the SQL.
 */
export interface PgWireCounter {
  port: number;
  roundTrips(): number;
  statements(): Map<string, number>;
  close(): Promise<void>;
}

const normalize = (sql: string) => sql.replace(/\s+/g, ' ').replace(/\(\$\d+(, \$\d+)*\)/g, '(…)').slice(0, 110);

export async function startPgWireCounter(target: { host: string; port: number }): Promise<PgWireCounter> {
  let roundTrips = 0;
  const statements = new Map<string, number>();
  const sockets = new Set<net.Socket>();
  const count = (sql: string) => statements.set(normalize(sql), (statements.get(normalize(sql)) ?? 0) + 1);

  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    sockets.add(client).add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    let buf = Buffer.alloc(0);
    let started = false;
    client.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (!started) {
          if (buf.length < 4) break;
          const len = buf.readInt32BE(0);
          if (buf.length < len) break;
          buf = buf.subarray(len);
          started = true;
          continue;
        }
        if (buf.length < 5) break;
        const len = buf.readInt32BE(1);
        if (buf.length < 1 + len) break;
        const type = String.fromCharCode(buf[0]!);
        const body = buf.subarray(5, 1 + len);
        if (type === 'Q') {
          roundTrips++;
          count(body.toString('utf8', 0, body.indexOf(0)));
        } else if (type === 'P') {
          const nameEnd = body.indexOf(0);
          count(body.toString('utf8', nameEnd + 1, body.indexOf(0, nameEnd + 1)));
        } else if (type === 'S') roundTrips++;
        buf = buf.subarray(1 + len);
      }
    });
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    roundTrips: () => roundTrips,
    statements: () => new Map(statements),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Redis MONITOR, counting the commands that touch the run's keys (its BullMQ
 * prefix), with BullMQ's Lua scripts named instead of their SHA.
 */
export interface RedisCommandCounter {
  /** Commands sent by clients (each EVALSHA is one, however much its script does). */
  counts(): Map<string, number>;
  /** Commands the Lua scripts ran inside Redis. */
  scriptCalls(): number;
  close(): Promise<void>;
}

async function bullmqScriptNames(): Promise<Map<string, string>> {
  // BullMQ registers each script with ioredis's defineCommand, which calls it by the SHA-1 of its source.
  const scripts = Object.values(await import('bullmq/dist/esm/scripts/index.js')) as unknown[];
  const named = scripts.filter((s): s is { name: string; content: string } => typeof (s as { content?: unknown })?.content === 'string');
  return new Map(named.map((s) => [createHash('sha1').update(s.content).digest('hex'), s.name]));
}

/**
 * MONITOR on a raw socket: ioredis's monitor mode can trip over its own
 * command queue when a busy server floods it. Each reply line reads
 * `+1700000000.123 [0 127.0.0.1:5000] "evalsha" "<sha>" "8" "{prefix}:…"`
 * (or `[0 lua]` for a command a script ran).
 */
export async function startRedisCommandCounter(redisUrl: string, prefixes: readonly string[], ignoreLocalPort?: number): Promise<RedisCommandCounter> {
  // The benchmark's own reads (the job stamps it reads after a phase) are not the service's commands.
  const ignored = ignoreLocalPort ? `:${ignoreLocalPort}` : undefined;
  const names = await bullmqScriptNames();
  const url = new URL(redisUrl);
  const socket = net.connect({ host: url.hostname, port: Number(url.port) || 6379 });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => {});
  const counts = new Map<string, number>();
  let scriptCalls = 0;
  let rest = '';
  socket.on('data', (chunk: Buffer) => {
    const lines = (rest + chunk.toString('latin1')).split('\r\n');
    rest = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith('+') || !prefixes.some((prefix) => line.includes(prefix))) continue;
      const m = /^\+[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"(?: "([^"]*)")?/.exec(line);
      if (!m || (ignored && m[1]!.endsWith(ignored))) continue;
      if (m[1] === 'lua') {
        scriptCalls++;
        continue;
      }
      let cmd = m[2]!.toLowerCase();
      if (cmd === 'evalsha') cmd = `evalsha ${names.get(m[3] ?? '') ?? (m[3] ?? '').slice(0, 8)}`;
      counts.set(cmd, (counts.get(cmd) ?? 0) + 1);
    }
  });
  socket.write('MONITOR\r\n');
  return {
    counts: () => new Map(counts),
    scriptCalls: () => scriptCalls,
    async close() {
      socket.destroy();
    },
  };
}
