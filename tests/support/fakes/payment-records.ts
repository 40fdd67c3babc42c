import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import type { StoredSnapshot } from '../../../src/machines/payment.snapshot.js';
import { createPaymentSnapshot } from '../../../src/machines/payment.snapshot.js';
import type { NewPayment } from '../../../src/persistence/payments.repository.js';
import type { ChargePaymentJob } from '../../../src/queues/payments.queue.js';

export interface SamplePayment {
  currency?: string;
  amount?: string;
  amountMinor?: bigint;
  maxAttempts?: number;
  paymentMethod?: string;
}

/** A new payment as the consumer writes it: Initiated, ids fresh, $49.99 by default. */
export function newPayment({ currency = 'USD', amount = '49.99', amountMinor = 4999n, maxAttempts = 3, paymentMethod = 'pm_card_visa' }: SamplePayment = {}): NewPayment {
  const orderId = randomUUID();
  const id = randomUUID();
  return {
    id,
    orderId,
    amount,
    amountMinor,
    currency,
    customerId: 'cus_123',
    paymentMethod,
    sourceEventId: randomUUID(),
    snapshot: createPaymentSnapshot({ orderId, paymentId: id, amountMinor: amountMinor.toString(), currency, maxAttempts }),
  };
}

/**
 * The snapshot a payment left Processing by machine version 2 would have: its
 * one create-and-confirm call may have charged, and no handle was kept.
 * The processor migrates it on load (legacyCharge).
 */
export function legacyV2Processing(snapshot: StoredSnapshot): StoredSnapshot {
  const { intents: _intents, intentSeq: _seq, legacyCharge: _legacy, ...context } = snapshot.context;
  return { version: 2, value: 'Processing', context: { ...context, attempts: 1 } } as unknown as StoredSnapshot;
}

/** The fields of a BullMQ job the processor reads; nothing here talks to Redis. */
export function fakeJob(orderId: string, attemptsMade = 0, attempts = 3): Job<ChargePaymentJob> {
  return { id: orderId, data: { orderId }, attemptsMade, opts: { attempts } } as unknown as Job<ChargePaymentJob>;
}
