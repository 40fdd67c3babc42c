import type { OutboxRepository, PendingEvent } from '../../../src/persistence/outbox.repository.js';
import type { OutboxEvent } from '../../../src/persistence/payments.repository.js';
import { createChanges } from './changes.js';

/** One outbox row as the table holds it. */
export interface OutboxRow extends PendingEvent {
  /** Null for an order cancelled before it had a payment (its PaymentCancelled). */
  paymentId: string | null;
  publishedAt: Date | null;
  publishAttempts: number;
}

/** The part of the outbox repository the relay uses, so the fake is checked against it. */
export type OutboxPort = Pick<OutboxRepository, 'claimBatch' | 'markPublished'>;

/**
 * The outbox table in memory, with the claim semantics of
 * outbox.repository.ts: rows claimed by a pass in flight are skipped by other
 * passes (SKIP LOCKED), rows that keep failing go last, rows younger than the
 * pass's minimum age are left alone, and a publish that throws changes nothing
 * (the transaction rolls back).
 */
export function createInMemoryOutbox({ now = () => new Date() }: { now?: () => Date } = {}) {
  const rows: OutboxRow[] = [];
  const locked = new Set<string>();
  const markCalls: string[][] = [];
  let claims = 0;
  const changes = createChanges();

  const mark = (ids: readonly string[]) => {
    for (const row of rows) if (ids.includes(row.id) && row.publishedAt === null) row.publishedAt = now();
  };

  const port = {
    async claimBatch(limit: number, publish: (events: PendingEvent[]) => Promise<string[]>, minAgeMs = 0): Promise<number> {
      claims++;
      const cutoff = now().getTime() - minAgeMs;
      const batch = rows
        .filter((r) => r.publishedAt === null && !locked.has(r.id) && (minAgeMs <= 0 || r.createdAt.getTime() < cutoff))
        .sort((a, b) => a.publishAttempts - b.publishAttempts || a.createdAt.getTime() - b.createdAt.getTime())
        .slice(0, limit);
      if (batch.length === 0) return 0;
      for (const r of batch) locked.add(r.id);
      try {
        const confirmed = await publish(batch.map(({ id, orderId, type, routingKey, payload, headers, createdAt }) => ({ id, orderId, type, routingKey, payload, headers, createdAt })));
        mark(confirmed);
        for (const r of batch) if (!confirmed.includes(r.id)) r.publishAttempts++;
        return confirmed.length;
      } finally {
        for (const r of batch) locked.delete(r.id);
        changes.notify();
      }
    },

    async markPublished(ids: string[]): Promise<void> {
      markCalls.push([...ids]);
      mark(ids);
      changes.notify();
    },
  } satisfies OutboxPort;

  return {
    ...port,
    /** Writes an event as a commit would (the payments fake calls this with the state change). */
    append(event: OutboxEvent, owner: { orderId: string; paymentId: string | null; createdAt?: Date }): OutboxRow {
      const row: OutboxRow = {
        id: event.id,
        orderId: owner.orderId,
        paymentId: owner.paymentId,
        type: event.type,
        routingKey: event.routingKey,
        payload: event.payload,
        headers: event.headers ?? null,
        createdAt: owner.createdAt ?? now(),
        publishedAt: null,
        publishAttempts: 0,
      };
      rows.push(row);
      changes.notify();
      return row;
    },
    rows: (): readonly OutboxRow[] => rows,
    row: (id: string): OutboxRow | undefined => rows.find((r) => r.id === id),
    eventsOf: (orderId: string): OutboxRow[] => rows.filter((r) => r.orderId === orderId),
    /** Every markPublished call's ids, in order: how the marks were batched. */
    markCalls: (): readonly string[][] => markCalls,
    claims: (): number => claims,
    until: changes.until,
  };
}

export type InMemoryOutbox = ReturnType<typeof createInMemoryOutbox>;
