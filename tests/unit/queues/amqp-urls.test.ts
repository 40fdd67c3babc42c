import { describe, expect, it } from 'vitest';
import { amqpUrlsOf, startingAt, vhostOf } from '../../../src/queues/amqp-urls.js';

describe('AMQP_URL as a list of nodes', () => {
  it('when it names one broker, then that is the whole list', () => {
    expect(amqpUrlsOf('amqp://guest:guest@127.0.0.1:5672')).toEqual(['amqp://guest:guest@127.0.0.1:5672']);
  });

  it('when it names several nodes, then each is an entry, without the spaces around the commas', () => {
    expect(amqpUrlsOf(' amqp://u:p@r1:5672/pay , amqp://u:p@r2:5672/pay,amqp://u:p@r3:5672/pay,')).toEqual([
      'amqp://u:p@r1:5672/pay',
      'amqp://u:p@r2:5672/pay',
      'amqp://u:p@r3:5672/pay',
    ]);
  });

  it('when a process starts at node N, then the list is turned to begin there and keeps its order', () => {
    expect(startingAt(['a', 'b', 'c'], 0)).toEqual(['a', 'b', 'c']);
    expect(startingAt(['a', 'b', 'c'], 2)).toEqual(['c', 'a', 'b']);
    expect(startingAt(['a', 'b', 'c'], 4)).toEqual(['b', 'c', 'a']);
  });

  it('when a URL has no path or a bare slash, then it names the default vhost; otherwise the decoded path', () => {
    expect(vhostOf(new URL('amqp://h:5672'))).toBe('/');
    expect(vhostOf(new URL('amqp://h:5672/'))).toBe('/');
    expect(vhostOf(new URL('amqp://h:5672/pay%2Fments'))).toBe('pay/ments');
  });
});
