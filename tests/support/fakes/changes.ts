/**
 * Lets a test await a condition on a fake's state ("three messages published",
 * "this row marked") instead of sleeping: the fake calls `notify()` after every
 * change, and `until` resolves the first time the predicate holds.
 */
export function createChanges() {
  const waiting = new Set<() => void>();
  return {
    notify(): void {
      for (const check of [...waiting]) check();
    },
    until(predicate: () => boolean): Promise<void> {
      if (predicate()) return Promise.resolve();
      return new Promise((resolve) => {
        const check = () => {
          if (!predicate()) return;
          waiting.delete(check);
          resolve();
        };
        waiting.add(check);
      });
    },
  };
}
