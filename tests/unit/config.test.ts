import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

/** Asserts that `env` is refused and returns the ConfigError. */
function refused(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(Object.keys(env))}`);
}

describe('loadConfig', () => {
  it('when nothing is set, then every default is the one CONTRACT.md section 2 states', () => {
    expect(loadConfig({})).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379',
      AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/payments',
      GATEWAY: 'stripe',
      GATEWAY_URL: 'http://127.0.0.1:12111',
      STRIPE_API_KEY: 'sk_test_simulator',
      GATEWAY_TIMEOUT_MS: 10_000,
      HTTP_PORT: 3000,
      LOG_LEVEL: 'info',
      MIGRATE_ON_START: true,
      SHUTDOWN_TIMEOUT_MS: 30_000,
      DATABASE_PREPARED_STATEMENTS: true,
    });
    // Unset: the admin routes answer loopback callers only.
    expect(loadConfig({}).ADMIN_TOKEN).toBeUndefined();
    // Unset: POST /webhooks/stripe answers 404.
    expect(loadConfig({}).STRIPE_WEBHOOK_SECRET).toBeUndefined();
  });

  it('when STRIPE_WEBHOOK_SECRET is a signing secret, then it is taken as written', () => {
    expect(loadConfig({ STRIPE_WEBHOOK_SECRET: 'whsec_test_0123456789abcdef' }).STRIPE_WEBHOOK_SECRET).toBe('whsec_test_0123456789abcdef');
  });

  it('when STRIPE_WEBHOOK_SECRET is not a whsec_ secret, then it is refused by name and its value is not echoed', () => {
    const mistaken = 'sk_test_51PastedTheApiKeyByMistake';
    const error = refused({ STRIPE_WEBHOOK_SECRET: mistaken });
    expect(error.problems).toEqual([expect.stringMatching(/^STRIPE_WEBHOOK_SECRET=\(hidden\) must be a Stripe webhook signing secret \(whsec_/)]);
    expect(error.message).not.toContain(mistaken);
  });

  it('when a variable is set to an empty string, then it counts as unset', () => {
    expect(loadConfig({ HTTP_PORT: '', GATEWAY: '', ADMIN_TOKEN: '' })).toMatchObject({ HTTP_PORT: 3000, GATEWAY: 'stripe' });
  });

  it('when variables are set, then they are parsed into typed values', () => {
    const config = loadConfig({
      REDIS_URL: 'redis://cache:6379/2',
      AMQP_URL: 'amqps://u:p@broker/payments',
      DATABASE_URL: 'postgresql://app@db:5432/payments_test',
      GATEWAY: 'mock',
      GATEWAY_URL: 'https://api.stripe.com',
      STRIPE_API_KEY: 'sk_live_abc123',
      GATEWAY_TIMEOUT_MS: '2500',
      HTTP_PORT: '0',
      LOG_LEVEL: 'debug',
      MIGRATE_ON_START: 'false',
      DATABASE_PREPARED_STATEMENTS: 'false',
      SHUTDOWN_TIMEOUT_MS: '0',
      ADMIN_TOKEN: 'a-long-enough-admin-token',
    });
    expect(config).toMatchObject({
      REDIS_URL: 'redis://cache:6379/2',
      GATEWAY: 'mock',
      GATEWAY_TIMEOUT_MS: 2500,
      HTTP_PORT: 0,
      LOG_LEVEL: 'debug',
      MIGRATE_ON_START: false,
      DATABASE_PREPARED_STATEMENTS: false,
      SHUTDOWN_TIMEOUT_MS: 0,
      ADMIN_TOKEN: 'a-long-enough-admin-token',
    });
  });

  it.each([
    ['true', true],
    ['1', true],
    ['false', false],
    ['0', false],
  ])('when MIGRATE_ON_START is %j, then it is %s', (value, expected) => {
    expect(loadConfig({ MIGRATE_ON_START: value }).MIGRATE_ON_START).toBe(expected);
  });

  it('when the config is loaded, then it is frozen and cannot be changed by a caller', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { HTTP_PORT: number }).HTTP_PORT = 1;
    }).toThrow(TypeError);
  });
});

describe('loadConfig refusals', () => {
  const bad = {
    REDIS_URL: 'http://127.0.0.1:6379',
    AMQP_URL: 'not a url',
    DATABASE_URL: 'mysql://root@db/payments',
    GATEWAY: 'paypal',
    GATEWAY_URL: 'ftp://gateway',
    GATEWAY_TIMEOUT_MS: '10s',
    HTTP_PORT: '70000',
    LOG_LEVEL: 'loud',
    MIGRATE_ON_START: 'yes',
    SHUTDOWN_TIMEOUT_MS: '-1',
  };

  it('when several values are bad, then one ConfigError names every one of them, on one line', () => {
    const error = refused(bad);
    expect(error.problems).toHaveLength(Object.keys(bad).length);
    for (const key of Object.keys(bad)) expect(error.message).toContain(`${key}=`);
    expect(error.message).not.toContain('\n');
  });

  it('when a value is bad, then the message says what it should be', () => {
    const { problems } = refused({ HTTP_PORT: '70000', GATEWAY_TIMEOUT_MS: '1.5', REDIS_URL: 'http://x' });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^HTTP_PORT="70000" must be between 0 and 65535$/),
        expect.stringMatching(/^GATEWAY_TIMEOUT_MS="1\.5" must be a whole number$/),
        expect.stringMatching(/^REDIS_URL="http:\/\/x" must be a URL starting with redis:\/\//),
      ]),
    );
  });

  it('when a bad value contains a newline, then the message still stays on one line', () => {
    expect(refused({ LOG_LEVEL: 'info\nINJECTED' }).message).not.toContain('\n');
  });

  it('when the Stripe key or the admin token is bad, then both are named but neither value is echoed', () => {
    const stripeKey = 'pk_live_51SecretPublishableValue';
    const adminToken = 'short-secret';
    const error = refused({ ...bad, STRIPE_API_KEY: stripeKey, ADMIN_TOKEN: adminToken });
    expect(error.message).toContain('STRIPE_API_KEY=');
    expect(error.message).toContain('ADMIN_TOKEN=');
    for (const text of [error.message, ...error.problems, String(error.stack)]) {
      expect(text).not.toContain(stripeKey);
      expect(text).not.toContain(adminToken);
    }
  });

  it('when the secrets are valid and another value is bad, then the secrets appear nowhere in the error', () => {
    const stripeKey = 'sk_test_51ValidButSecret';
    const adminToken = 'a-valid-but-secret-admin-token';
    const error = refused({ STRIPE_API_KEY: stripeKey, ADMIN_TOKEN: adminToken, HTTP_PORT: 'eighty' });
    expect(error.message).not.toContain(stripeKey);
    expect(error.message).not.toContain(adminToken);
  });
});

describe("docker-compose.yml's default admin token", () => {
  const composeDefault = 'local-dev-admin-token-change-me';

  it('when ADMIN_TOKEN is the compose default and no dev flag is set, then the service refuses to start, in one line naming the fix', () => {
    const error = refused({ ADMIN_TOKEN: composeDefault });
    expect(error.problems).toHaveLength(1);
    expect(error.message).toMatch(/ADMIN_TOKEN=\(hidden\) is the published default of docker-compose\.yml/);
    expect(error.message).toContain('ALLOW_DEV_ADMIN_TOKEN=true');
    expect(error.message).not.toContain(composeDefault);
    expect(error.message).not.toContain('\n');
    expect(() => loadConfig({ ADMIN_TOKEN: composeDefault, ALLOW_DEV_ADMIN_TOKEN: 'false' })).toThrow(ConfigError);
  });

  it('when ALLOW_DEV_ADMIN_TOKEN=true, then the compose default is taken (a laptop)', () => {
    expect(loadConfig({ ADMIN_TOKEN: composeDefault, ALLOW_DEV_ADMIN_TOKEN: 'true' }).ADMIN_TOKEN).toBe(composeDefault);
  });

  it('when ADMIN_TOKEN is a token of its own, then no flag is needed', () => {
    expect(loadConfig({ ADMIN_TOKEN: 'a-token-of-our-own-0123456789' }).ALLOW_DEV_ADMIN_TOKEN).toBe(false);
  });
});

describe('AMQP_URL naming a RabbitMQ cluster', () => {
  const nodes = ['amqp://payments:s3cret@rabbitmq-1:5672/pay', 'amqp://payments:s3cret@rabbitmq-2:5672/pay', 'amqp://payments:s3cret@rabbitmq-3:5672/pay'];

  it('when AMQP_URL lists several nodes, then it is taken as written', () => {
    expect(loadConfig({ AMQP_URL: nodes.join(',') }).AMQP_URL).toBe(nodes.join(','));
  });

  it('when one entry of the list is bad, then that entry is named, by position, in one line, and no password is shown', () => {
    const error = refused({ AMQP_URL: `${nodes[0]},amqp//payments:s3cret@rabbitmq-2,${nodes[2]}` });
    expect(error.problems).toEqual([
      'AMQP_URL="amqp://***@rabbitmq-1:5672/pay,amqp//***@rabbitmq-2,amqp://***@rabbitmq-3:5672/pay" entry 2 "amqp//***@rabbitmq-2" must be a URL starting with amqp:// or amqps://',
    ]);
    expect(error.message).not.toContain('s3cret');
  });

  it('when the entries name different vhosts, then the list is refused: a process must consume the same queues on every node', () => {
    const error = refused({ AMQP_URL: `${nodes[0]},amqp://payments:s3cret@rabbitmq-2:5672` });
    expect(error.problems).toEqual([expect.stringMatching(/ names 2 vhosts \(pay, \/\): every node of one cluster must name the same vhost$/)]);
  });

  it('when the list has no entry at all, then it is refused', () => {
    expect(refused({ AMQP_URL: ' , ' }).problems).toEqual(['AMQP_URL=" , " must name at least one amqp:// or amqps:// URL']);
  });
});

describe('config errors never print credentials', () => {
  it('when a URL with a password is malformed, then the message names the variable but hides the password', async () => {
    const { loadConfig: load, ConfigError: CE } = await import('../../src/config.js');
    let error: unknown;
    try {
      load({ AMQP_URL: 'amqp//user:s3cret@host', DATABASE_URL: 'mysql://root:hunter2@db/x' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CE);
    const message = (error as Error).message;
    expect(message).toContain('AMQP_URL');
    expect(message).toContain('DATABASE_URL');
    expect(message).not.toContain('s3cret');
    expect(message).not.toContain('hunter2');
  });
});
