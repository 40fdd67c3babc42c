/** RabbitMQ names of CONTRACT.md §3: declared by the worker, idempotently, at start. */
export const INVENTORY_EXCHANGE = 'inventory.events';
export const INVENTORY_RESERVED_KEY = 'inventory.reserved';
export const INPUT_QUEUE = 'payment-service.inventory-reserved';
export const PAYMENT_EXCHANGE = 'payment.events';
export const DEAD_LETTER_QUEUE = 'payment-service.dead-letter';
export const PAYMENT_COMPLETED_KEY = 'payment.completed';
export const PAYMENT_FAILED_KEY = 'payment.failed';
export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json';
export const SERVICE_SOURCE = 'payment-service';
