import type { Channel, ConsumeMessage } from 'amqplib';
import { batcher, type Batcher } from '../batching.js';

/**
 * Acks one channel's deliveries in runs. `basic.ack` with `multiple` settles
 * every outstanding delivery up to a tag at once, so when a tick settles a
 * run of deliveries (the consumer settles its per-tick batch together) the
 * broker gets one ack frame instead of one per message: fewer frames for
 * RabbitMQ to process, fewer socket writes for this process. Acks gather for
 * `flushMs` first, so even at a moderate rate one frame carries several.
 *
 * A multiple ack must never cover a delivery that is still being handled (or
 * waiting to be nacked), so only the run at the head of the channel's
 * outstanding deliveries, in tag order, goes out as one frame. An ack held
 * behind an unsettled delivery for longer than `holdMs` goes out on its own,
 * so one slow message (or one waiting out its retry delay) never holds the
 * others' prefetch slots. Nothing is lost either way: a delivery not acked
 * when the channel closes is put back in the queue by the broker, and the
 * consumer absorbs it as a duplicate.
 */
export class AckBatcher {
  /** Deliveries not yet settled on the wire, in delivery-tag order (the order the broker sent them). */
  private readonly outstanding: ConsumeMessage[] = [];
  /** Tags the handler has acked that are not yet sent. */
  private readonly ready = new Set<number>();
  private holdTimer: NodeJS.Timeout | undefined;
  private closed = false;

  /** Gathers acks for `flushMs`, then sends the run at the head. */
  private readonly gathered: Batcher<number, void>;
  private readonly holdMs: number;

  /**
   * `flushMs`: how long acks gather before they go out (nothing waits for an
   * ack; the message is only redelivered, and absorbed, if this process dies
   * first). `holdMs`: how long an ack may wait behind an unsettled delivery.
   */
  constructor(
    private readonly channel: Pick<Channel, 'ack' | 'nack'>,
    o: { flushMs?: number; holdMs?: number } = {},
  ) {
    this.gathered = batcher<number, void>(
      async (tags) => {
        this.flush();
        return tags.map(() => undefined);
      },
      { maxBatchSize: Number.POSITIVE_INFINITY, gather: { ms: o.flushMs ?? 20 } },
    );
    this.holdMs = o.holdMs ?? 100;
  }

  /** Every delivery, as it arrives (tags rise on a channel, so this keeps tag order). */
  delivered(message: ConsumeMessage): void {
    this.outstanding.push(message);
  }

  ack(message: ConsumeMessage): void {
    if (this.closed) return;
    this.ready.add(message.fields.deliveryTag);
    void this.gathered.load(message.fields.deliveryTag);
  }

  /** Sent at once, on its own: a nack with `multiple` would put back the deliveries still being handled. */
  nack(message: ConsumeMessage, requeue: boolean): void {
    if (this.closed) return;
    this.forget(message.fields.deliveryTag);
    this.send(() => this.channel.nack(message, false, requeue));
  }

  /** Sends the acked run at the head as one frame; acks held behind an unsettled delivery wait up to `holdMs`. */
  flush(): void {
    if (this.closed) return;
    let last: ConsumeMessage | undefined;
    let run = 0;
    while (this.outstanding.length > 0 && this.ready.delete(this.outstanding[0]!.fields.deliveryTag)) {
      last = this.outstanding.shift();
      run++;
    }
    if (last) this.send(() => this.channel.ack(last, run > 1));
    if (this.ready.size > 0 && !this.holdTimer) {
      this.holdTimer = setTimeout(() => {
        this.holdTimer = undefined;
        this.sendHeldAcks();
      }, this.holdMs);
      this.holdTimer.unref();
    }
  }

  /** Sends everything acked so far (run first, then each held ack on its own): for a consumer that is stopping. */
  drain(): void {
    this.flush();
    this.sendHeldAcks();
  }

  /** The channel is gone: the broker has put back whatever was not acked, and tags mean nothing on the next channel. */
  close(): void {
    this.closed = true;
    clearTimeout(this.holdTimer);
    this.outstanding.length = 0;
    this.ready.clear();
  }

  private sendHeldAcks(): void {
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    this.flush(); // the blocking delivery may have settled meanwhile
    if (this.closed) return;
    for (const message of this.outstanding.filter((m) => this.ready.has(m.fields.deliveryTag))) {
      this.ready.delete(message.fields.deliveryTag);
      this.forget(message.fields.deliveryTag);
      this.send(() => this.channel.ack(message, false));
    }
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
  }

  private forget(tag: number): void {
    const i = this.outstanding.findIndex((m) => m.fields.deliveryTag === tag);
    if (i >= 0) this.outstanding.splice(i, 1);
  }

  private send(frame: () => void): void {
    try {
      frame();
    } catch {
      // The channel closed meanwhile: the broker has already put the messages back.
      this.close();
    }
  }
}
