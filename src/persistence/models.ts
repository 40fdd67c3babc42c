import { Model } from 'objection';

/**
 * Objection models serve the read side (a payment with its history, the
 * sweeper's candidates); the hot-path statements are SQL in
 * payments.repository.ts (see sql.ts for why). Models stay inside
 * src/persistence: repositories return plain objects, so nothing outside this
 * folder depends on the ORM.
 */
export class PaymentModel extends Model {
  static override tableName = 'payments';
  id!: string;
  order_id!: string;
  amount!: string;
  amount_minor!: string;
  currency!: string;
  customer_id!: string | null;
  payment_method!: string | null;
  status!: string;
  transaction_id!: string | null;
  gateway!: string | null;
  gateway_response!: Record<string, unknown> | null;
  failure_code!: string | null;
  failure_reason!: string | null;
  snapshot!: unknown;
  machine_version!: number;
  version!: number;
  source_event_id!: string | null;
  created_at!: Date;
  updated_at!: Date;
  completed_at!: Date | null;
  failed_at!: Date | null;
  /** Its history, when read with `withGraphFetched('transitions')`. */
  transitions?: PaymentTransitionModel[];
  /** Its refunds, when read with `withGraphFetched('refunds')`. */
  refunds?: RefundModel[];
  /** The order's cancellation, when read with `withGraphFetched('cancellation')`. */
  cancellation?: OrderCancellationModel | null;

  static override get relationMappings() {
    return {
      transitions: {
        relation: Model.HasManyRelation,
        modelClass: PaymentTransitionModel,
        join: { from: 'payments.id', to: 'payment_transitions.payment_id' },
      },
      // By order id, not payment id: a refund asked for before the payment existed has no payment_id yet.
      refunds: {
        relation: Model.HasManyRelation,
        modelClass: RefundModel,
        join: { from: 'payments.order_id', to: 'refunds.order_id' },
      },
      cancellation: {
        relation: Model.HasOneRelation,
        modelClass: OrderCancellationModel,
        join: { from: 'payments.order_id', to: 'order_cancellations.order_id' },
      },
    };
  }
}

export class PaymentTransitionModel extends Model {
  static override tableName = 'payment_transitions';
  id!: string;
  payment_id!: string;
  order_id!: string;
  from_status!: string | null;
  to_status!: string;
  event!: string;
  detail!: Record<string, unknown> | null;
  created_at!: Date;
}

/** A `refunds` row (compensations.repository.ts writes them; this model only reads). */
export class RefundModel extends Model {
  static override tableName = 'refunds';
  id!: string;
  order_id!: string;
  payment_id!: string | null;
  /** int8: a string from pg, never a Number. */
  amount_minor!: string | null;
  amount!: string | null;
  currency!: string | null;
  reason!: string | null;
  status!: 'requested' | 'pending' | 'succeeded' | 'failed';
  failure_code!: string | null;
  failure_reason!: string | null;
  gateway_refund_id!: string | null;
  idempotency_key!: string | null;
  source_event_id!: string | null;
  cancel!: boolean;
  created_at!: Date;
  updated_at!: Date;
}

export class OrderCancellationModel extends Model {
  static override tableName = 'order_cancellations';
  static override idColumn = 'order_id';
  order_id!: string;
  source_event_id!: string;
  reason!: string | null;
  received_at!: Date;
  answered_at!: Date | null;
}
