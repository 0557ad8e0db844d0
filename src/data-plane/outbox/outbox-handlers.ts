import { Injectable } from '@nestjs/common';
import type { ClaimedJob } from './outbox.repository';

/** Runs one outbox job of a type another context owns; a throw is a failed attempt (retried, then dead-lettered). */
export type OutboxJobHandler = (job: ClaimedJob) => Promise<void>;

/**
 * The job types other bounded contexts run through the outbox (e.g. alert_delivery, registered by
 * the alerting module in its constructor, before any worker loop starts). The worker runs
 * embed_nodes itself and looks every other type up here.
 */
@Injectable()
export class OutboxHandlers {
  private readonly handlers = new Map<string, OutboxJobHandler>();

  register(type: string, handler: OutboxJobHandler): void {
    if (this.handlers.has(type)) throw new Error(`outbox job type ${type} already has a handler`);
    this.handlers.set(type, handler);
  }

  get(type: string): OutboxJobHandler | undefined {
    return this.handlers.get(type);
  }
}
