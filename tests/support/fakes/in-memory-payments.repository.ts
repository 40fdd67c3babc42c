import type { NewPayment, Payment, PaymentsRepository, Transition, TransitionWrite } from '../../../src/persistence/payments.repository.js';
import { createInMemoryOutbox, type InMemoryOutbox } from './in-memory-outbox.repository.js';

/**
 * The part of the payments repository the processors (charges and
 * compensations), the transitions and the sweeper use. Picked from the real type, so a changed signature there fails
 * the typecheck here; methods added there do not concern this fake.
 */
export type PaymentsPort = Pick<
  PaymentsRepository,
  'insert' | 'findByOrderId' | 'commitTransition' | 'note' | 'findWithHistory' | 'history' | 'findUnfinished' | 'orderIdOfTransaction'
>;

/**
 * The processor's deps name the whole repository type (it is `ReturnType` of the
 * factory, not an interface), though it calls only the port's methods. The one
 * place that hands the fake over; the real type is assignable to the port, so
 * this assertion is checked in that direction.
 */
export const asPaymentsRepository = (port: PaymentsPort): PaymentsRepository => port as PaymentsRepository;

/** failure_reason holds 500 characters. */
const fitReason = (reason: string | null) => reason?.slice(0, 500) ?? null;
const TERMINAL = new Set(['Success', 'Failed']);

/**
 * The payments table, its history and the outbox in memory, with the
 * guarantees the processor relies on: a commit happens only if nobody wrote
 * the payment since the version the caller read (else `null`: the race is
 * lost), and the history row and the outbox event are written with it or not
 * at all. Every read hands out a copy, as a database would.
 *
 * `journal`, when given, gets `commit:<EVENT>` / `note:<EVENT>` entries, so a
 * test can check the order of commits against gateway calls.
 */
export function createInMemoryPaymentsRepository(o: { outbox?: InMemoryOutbox; journal?: string[]; now?: () => Date } = {}) {
  const now = o.now ?? (() => new Date());
  const outbox = o.outbox ?? createInMemoryOutbox({ now });
  const byOrder = new Map<string, Payment>();
  const history = new Map<string, Transition[]>();
  let seq = 0;

  const record = (payment: Pick<Payment, 'orderId'>, t: Omit<Transition, 'id' | 'createdAt'>) => {
    history.get(payment.orderId)!.push({ ...t, id: String(++seq), createdAt: now() });
  };
  const copy = <T>(value: T): T => structuredClone(value);

  const port = {
    async insert(p: NewPayment): Promise<{ created: boolean; payment: Payment }> {
      const existing = byOrder.get(p.orderId);
      if (existing) return { created: false, payment: copy(existing) };
      const at = now();
      const payment: Payment = {
        id: p.id,
        orderId: p.orderId,
        amount: p.amount,
        amountMinor: p.amountMinor,
        currency: p.currency,
        customerId: p.customerId,
        paymentMethod: p.paymentMethod,
        status: p.snapshot.value,
        transactionId: null,
        gateway: null,
        gatewayResponse: null,
        failureCode: p.failure?.code ?? null,
        failureReason: fitReason(p.failure?.reason ?? null),
        snapshot: copy(p.snapshot),
        version: 1,
        sourceEventId: p.sourceEventId,
        createdAt: at,
        updatedAt: at,
        completedAt: null,
        failedAt: p.failure ? at : null,
        orderCancelled: null,
      };
      byOrder.set(p.orderId, payment);
      history.set(p.orderId, []);
      record(payment, { fromStatus: null, toStatus: payment.status, event: p.failure ? 'REJECT' : 'CREATED', detail: { sourceEventId: p.sourceEventId, ...p.detail } });
      if (p.failure) outbox.append(p.failure.outbox, { orderId: p.orderId, paymentId: p.id });
      return { created: true, payment: copy(payment) };
    },

    async findByOrderId(orderId: string): Promise<Payment | undefined> {
      const found = byOrder.get(orderId);
      return found && copy(found);
    },

    async commitTransition(payment: Payment, w: TransitionWrite): Promise<Payment | null> {
      const stored = byOrder.get(payment.orderId);
      if (!stored || stored.id !== payment.id || stored.version !== payment.version) return null;
      const at = now();
      const status = w.snapshot.value;
      // As the SQL does: an `undefined` column is left as it is, `null` clears it.
      const keep = <K extends 'transactionId' | 'gateway' | 'gatewayResponse' | 'failureCode'>(k: K): Payment[K] => (w[k] === undefined ? stored[k] : (w[k] as Payment[K]));
      const updated: Payment = {
        ...stored,
        status,
        snapshot: copy(w.snapshot),
        version: stored.version + 1,
        transactionId: keep('transactionId'),
        gateway: keep('gateway'),
        gatewayResponse: keep('gatewayResponse'),
        failureCode: keep('failureCode'),
        failureReason: w.failureReason === undefined ? stored.failureReason : fitReason(w.failureReason),
        updatedAt: at,
        completedAt: status === 'Success' ? at : stored.completedAt,
        failedAt: status === 'Failed' ? at : stored.failedAt,
      };
      byOrder.set(payment.orderId, updated);
      record(payment, { fromStatus: payment.status, toStatus: status, event: w.event, detail: w.detail ? copy(w.detail) : null });
      for (const event of w.outbox ?? []) outbox.append(event, { orderId: payment.orderId, paymentId: payment.id });
      o.journal?.push(`commit:${w.event}`);
      return copy(updated);
    },

    async note(payment: Payment, event: string, detail: Record<string, unknown>): Promise<void> {
      record(payment, { fromStatus: payment.status, toStatus: payment.status, event, detail: copy(detail) });
      o.journal?.push(`note:${event}`);
    },

    async findWithHistory(orderId: string): Promise<{ payment: Payment; history: Transition[] } | undefined> {
      const found = byOrder.get(orderId);
      return found && { payment: copy(found), history: copy(history.get(orderId) ?? []) };
    },

    async orderIdOfTransaction(transactionId: string): Promise<string | undefined> {
      return [...byOrder.values()].find((p) => p.transactionId === transactionId)?.orderId;
    },

    async history(orderId: string): Promise<Transition[]> {
      return copy(history.get(orderId) ?? []);
    },

    async findUnfinished(olderThanMs: number, limit: number): Promise<Payment[]> {
      const cutoff = now().getTime() - olderThanMs;
      return [...byOrder.values()]
        .filter((p) => !TERMINAL.has(p.status) && p.updatedAt.getTime() < cutoff)
        .sort((a, b) => a.updatedAt.getTime() - b.updatedAt.getTime())
        .slice(0, limit)
        .map(copy);
    },
  } satisfies PaymentsPort;

  return {
    ...port,
    outbox,
    /** Every payment as stored now (copies). */
    all: (): Payment[] => [...byOrder.values()].map(copy),
  };
}

export type InMemoryPaymentsRepository = ReturnType<typeof createInMemoryPaymentsRepository>;
