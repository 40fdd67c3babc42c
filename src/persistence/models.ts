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

  static override get relationMappings() {
    return {
      transitions: {
        relation: Model.HasManyRelation,
        modelClass: PaymentTransitionModel,
        join: { from: 'payments.id', to: 'payment_transitions.payment_id' },
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
