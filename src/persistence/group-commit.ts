import DataLoader from 'dataloader';

/**
 * A DataLoader whose batches go out like a database's group commit: while
 * `maxInFlight` batches of this kind are at the database, the next batch keeps
 * collecting, and goes out as soon as one comes back. With nothing in flight a
 * batch goes out at once (after the current poll's socket reads, via
 * setImmediate), so a lone request waits for nothing; under load the batches
 * grow by themselves, and the cost per row falls exactly when the machine
 * needs it to. Nothing is cached: every load runs its statement.
 */
export function groupCommitLoader<K, V>(
  batch: (keys: readonly K[]) => Promise<ReadonlyArray<V | Error>>,
  o: { maxBatchSize: number; maxInFlight?: number },
): DataLoader<K, V> {
  const maxInFlight = o.maxInFlight ?? 1;
  let active = 0;
  const waiting: Array<() => void> = [];
  return new DataLoader<K, V>(
    async (keys) => {
      try {
        return await batch(keys);
      } finally {
        const next = waiting.shift();
        if (next) setImmediate(next);
        else active--;
      }
    },
    {
      cache: false,
      maxBatchSize: o.maxBatchSize,
      batchScheduleFn: (dispatch) => {
        if (active < maxInFlight) {
          active++;
          setImmediate(dispatch);
        } else {
          waiting.push(dispatch);
        }
      },
    },
  );
}
