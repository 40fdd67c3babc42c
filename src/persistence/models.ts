import { Model } from 'objection';

/**
 * Objection models stay inside src/persistence: repositories return plain
 * objects, so nothing outside this folder depends on the ORM.
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

export class OutboxModel extends Model {
  static override tableName = 'outbox';
  id!: string;
  payment_id!: string;
  order_id!: string;
  type!: string;
  routing_key!: string;
  payload!: Record<string, unknown>;
  headers!: Record<string, string> | null;
  publish_attempts!: number;
  created_at!: Date;
  published_at!: Date | null;
}
