import { describe, expect, it } from 'vitest';
import { createKnex } from '../../../src/persistence/db.js';

describe('knex logging', () => {
  it("when knex warns (pool trouble, a deprecation), then the line goes to the service's structured log, not the console", async () => {
    const lines: Array<{ level: string; obj: object; msg: string }> = [];
    const log = {
      warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj, msg }),
      error: (obj: object, msg: string) => lines.push({ level: 'error', obj, msg }),
      debug: (obj: object, msg: string) => lines.push({ level: 'debug', obj, msg }),
    };
    const knex = createKnex('postgres://nobody@127.0.0.1:1/none', {}, log);
    try {
      const logger = (knex.client as unknown as { logger: { warn(m: string): void; error(m: string): void } }).logger;
      logger.warn('Connection Error: timed out');
      logger.error('something broke');
      expect(lines).toEqual([
        { level: 'warn', obj: { component: 'knex' }, msg: 'Connection Error: timed out' },
        { level: 'error', obj: { component: 'knex' }, msg: 'something broke' },
      ]);
    } finally {
      await knex.destroy();
    }
  });
});
