import { afterEach, describe, expect, it, vi } from 'vitest';
import { batcher, groupCommit, type Batcher } from '../../src/batching.js';

/** A batch function whose batches the test answers by hand: it sees what was sent, and when. */
function heldDatabase() {
  const batches: Array<{ keys: readonly number[]; answer: () => void; fail: (err: Error) => void }> = [];
  const arrived: Array<() => void> = [];
  const batch = (keys: readonly number[]) =>
    new Promise<number[]>((resolve, reject) => {
      batches.push({ keys, answer: () => resolve(keys.map((k) => k * 10)), fail: reject });
      arrived.shift()?.();
    });
  /** Resolves once the n-th batch (1-based) has been sent. */
  const sent = (n: number): Promise<void> => (batches.length >= n ? Promise.resolve() : new Promise<void>((r) => arrived.push(r)).then(() => sent(n)));
  return { batches, batch, sent };
}

describe('group-commit batching', () => {
  it('when one request comes alone, then it goes out at once, alone', async () => {
    const db = heldDatabase();
    const loader = batcher(db.batch, { maxBatchSize: 100, gather: groupCommit({ isBusy: () => false }) });
    const one = loader.load(1);
    await db.sent(1);
    expect(db.batches.map((b) => b.keys)).toEqual([[1]]);
    db.batches[0]!.answer();
    expect(await one).toBe(10);
  });

  it('when requests arrive while a batch is at the database, then they gather and go out together as soon as it answers', async () => {
    const db = heldDatabase();
    const loader = batcher(db.batch, { maxBatchSize: 100, gather: groupCommit({ isBusy: () => false }) });
    const first = loader.load(1);
    await db.sent(1);
    const later = [2, 3, 4].map((k) => loader.load(k));
    await new Promise((r) => setImmediate(r)); // a whole turn of the loop: still nothing more is sent
    expect(db.batches).toHaveLength(1);

    db.batches[0]!.answer();
    await db.sent(2);
    expect(db.batches.map((b) => b.keys)).toEqual([[1], [2, 3, 4]]);
    db.batches[1]!.answer();
    expect(await Promise.all([first, ...later])).toEqual([10, 20, 30, 40]);
  });

  it('when the batch at the database fails, then its callers get the error and the next batch still goes out', async () => {
    const db = heldDatabase();
    const loader = batcher(db.batch, { maxBatchSize: 100, gather: groupCommit({ isBusy: () => false }) });
    const first = loader.load(1);
    await db.sent(1);
    const second = loader.load(2);
    db.batches[0]!.fail(new Error('connection reset'));
    await expect(first).rejects.toThrow('connection reset');
    await db.sent(2);
    db.batches[1]!.answer();
    expect(await second).toBe(20);
  });

  it('when more requests gather than a batch holds, then they go out in batches of at most that size, one after another', async () => {
    const db = heldDatabase();
    const loader = batcher(db.batch, { maxBatchSize: 2, gather: groupCommit({ isBusy: () => false }) });
    const first = loader.load(0);
    await db.sent(1);
    const rest = [1, 2, 3, 4, 5].map((k) => loader.load(k));
    for (let n = 1; n <= 3; n++) {
      db.batches[n - 1]!.answer();
      await db.sent(n + 1);
    }
    db.batches[3]!.answer();
    expect(db.batches.map((b) => b.keys)).toEqual([[0], [1, 2], [3, 4], [5]]);
    expect(await Promise.all([first, ...rest])).toEqual([0, 10, 20, 30, 40, 50]);
  });
});

describe('group-commit batching on a busy process', () => {
  afterEach(() => vi.useRealTimers());

  /** Sends two requests every 3 ms for `ms`, each pair answered as soon as it goes out: about 0.7 requests per ms. */
  async function trickle(db: ReturnType<typeof heldDatabase>, loader: Batcher<number, number>, ms: number) {
    for (let t = 0; t < ms; t += 3) {
      const answered = Promise.all([loader.load(1000 + t), loader.load(2000 + t)]);
      await vi.advanceTimersByTimeAsync(3);
      for (const b of db.batches.splice(0)) b.answer();
      await answered;
    }
  }

  it('when the process is busy and requests come faster than one per linger, then a batch lingers so requests a little apart share its statement', async () => {
    vi.useFakeTimers();
    const db = heldDatabase();
    const loader = batcher(db.batch, { maxBatchSize: 100, gather: groupCommit({ lingerMs: 3, isBusy: () => true, now: () => Date.now() }) });
    await trickle(db, loader, 210); // over more than one 100 ms window

    const first = loader.load(1);
    await vi.advanceTimersByTimeAsync(2);
    expect(db.batches).toHaveLength(0);
    const second = loader.load(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(db.batches.map((b) => b.keys)).toEqual([[1, 2]]);
    db.batches[0]!.answer();
    expect(await Promise.all([first, second])).toEqual([10, 20]);
  });

  it('when requests come slower than one per linger, or the process is quiet, then a batch goes at once', async () => {
    vi.useFakeTimers();
    const db = heldDatabase();
    let busy = true;
    const loader = batcher(db.batch, { maxBatchSize: 100, gather: groupCommit({ lingerMs: 3, isBusy: () => busy, now: () => Date.now() }) });
    // Busy, but requests of this kind come one per 20 ms (as when a slow gateway is what keeps the process busy).
    for (let i = 0; i < 8; i++) {
      const answered = loader.load(i);
      await vi.advanceTimersByTimeAsync(0);
      expect(db.batches.map((b) => b.keys)).toEqual([[i]]);
      db.batches.splice(0)[0]!.answer();
      expect(await answered).toBe(i * 10);
      await vi.advanceTimersByTimeAsync(20);
    }

    await trickle(db, loader, 210);
    busy = false;
    const quiet = loader.load(3);
    await vi.advanceTimersByTimeAsync(0);
    expect(db.batches.map((b) => b.keys)).toEqual([[3]]);
    db.batches[0]!.answer();
    expect(await quiet).toBe(30);
  });
});

describe('batching by tick and by window', () => {
  afterEach(() => vi.useRealTimers());

  it('when requests are made in the same tick, then they go out as one batch and each caller gets its own answer', async () => {
    const db = heldDatabase();
    const loader = batcher(db.batch, { maxBatchSize: 100, gather: 'tick' });
    const answers = Promise.all([1, 2, 3].map((k) => loader.load(k)));
    await db.sent(1);
    db.batches[0]!.answer();
    expect(await answers).toEqual([10, 20, 30]);
    expect(db.batches.map((b) => b.keys)).toEqual([[1, 2, 3]]);
  });

  it('when requests come within a window, then they wait for it and go out together; flush sends them at once', async () => {
    vi.useFakeTimers();
    const db = heldDatabase();
    const loader = batcher(db.batch, { maxBatchSize: 100, gather: { ms: 100 } });
    const first = loader.load(1);
    await vi.advanceTimersByTimeAsync(60);
    const second = loader.load(2);
    await vi.advanceTimersByTimeAsync(30);
    expect(db.batches).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(10);
    expect(db.batches.map((b) => b.keys)).toEqual([[1, 2]]);
    db.batches[0]!.answer();
    expect(await Promise.all([first, second])).toEqual([10, 20]);

    const third = loader.load(3);
    loader.flush();
    await vi.advanceTimersByTimeAsync(0);
    expect(db.batches.map((b) => b.keys)).toEqual([[1, 2], [3]]);
    db.batches[1]!.answer();
    expect(await third).toBe(30);
  });
});
