import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../platform/config/config';
import { DATABASE, type Database } from '../platform/db/database';
import type { Transaction } from 'kysely';
import type { DB } from '../platform/db/schema';
import { AppError } from '../platform/errors/app-error';
import { systemCommandContext } from '../platform/event-store/command-context';
import { EVENT_STORE, type EventStore } from '../platform/event-store/event-store';
import { type JobPayload, OutboxRepository } from '../data-plane/outbox/outbox.repository';
import { type Appending, type CommandOutcome, handleCommand } from '../control-plane/shared/command-handling';
import { type AlertCommand, type AlertEvent, alertDecider, type AlertStreamState, alertStreamId } from './alert.domain';
import type { AlertMessage } from './alert-message';
import { routeMatches } from './alert-route.domain';
import { AlertRoutesRepository } from './alert-routes.repository';
import type { Decision } from './burn-rate';
import { consoleUrl, runbookUrl } from './rules';

export const ALERT_DELIVERY_JOB = 'alert_delivery' as const;
const EVALUATOR = { type: 'system' as const, id: 'alert-evaluator', display: 'SLO and platform alert evaluator' };

/** What an alert_delivery outbox job carries: the route and the message (the route's url and secret are read at delivery). */
export interface AlertDeliveryPayload {
  readonly route_id: string;
  readonly event_id: string;
  readonly message: AlertMessage;
}

/**
 * Records an evaluator decision through the one command path (handleCommand): the alert stream is
 * loaded, the decision decided purely against it (one open alert per rule and subject), and the
 * event appended with the stream's expected revision in ONE transaction with one alert_delivery
 * outbox job per matching enabled route (handleCommand's atomic work). A
 * delivery is never lost (the job commits with the event) and never blocks the append (the
 * worker sends it later, retrying). An evaluator that loses a race (another instance appended
 * first) records nothing.
 */
@Injectable()
export class AlertRecorder {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(DATABASE) private readonly database: Database,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly outbox: OutboxRepository,
    private readonly routes: AlertRoutesRepository,
  ) {}

  /** Returns the event recorded, or null when the stream had already decided it. */
  async record(decision: Decision, now: () => Date = () => new Date()): Promise<{ type: AlertEvent['type']; alert_id: string; deliveries: number } | null> {
    const alertId = decision.kind === 'fire' ? randomUUID() : decision.alert_id;
    const command: AlertCommand =
      decision.kind === 'fire'
        ? {
            type: 'FireAlert',
            alert_id: alertId,
            rule: decision.rule,
            tenant_id: decision.tenant_id,
            severity: decision.severity,
            numbers: decision.numbers,
            runbook_url: runbookUrl(this.config.alerting.runbookBaseUrl, decision.rule),
            console_url: consoleUrl(this.config.publicUrl, alertId),
          }
        : { type: 'ResolveAlert', alert_id: decision.alert_id, rule: decision.rule, tenant_id: decision.tenant_id, numbers: decision.numbers };
    const routes = await this.routes.enabled();
    let deliveries = 0;
    const enqueueDeliveries = async (trx: Transaction<DB>, { state, events, eventIds, metadata }: Appending<AlertEvent, AlertStreamState>): Promise<void> => {
      const event = events[0]!;
      const eventId = eventIds[0]!;
      const fired = event.type === 'AlertFired' ? { ...event.data, fired_at: metadata.occurred_at } : state.open!;
      const message: AlertMessage = {
        event: event.type === 'AlertFired' ? 'alert.fired' : 'alert.resolved',
        alert_id: fired.alert_id,
        rule: fired.rule,
        severity: fired.severity,
        tenant_id: fired.tenant_id,
        state: event.type === 'AlertFired' ? 'firing' : 'resolved',
        fired_at: fired.fired_at,
        resolved_at: event.type === 'AlertResolved' ? metadata.occurred_at : null,
        numbers: event.data.numbers,
        runbook_url: fired.runbook_url,
        console_url: fired.console_url,
      };
      const targets = routes.filter((r) => routeMatches(r, { severity: fired.severity, tenant_id: fired.tenant_id }));
      for (const route of targets) {
        const payload: AlertDeliveryPayload = { route_id: route.route_id, event_id: eventId, message };
        await this.outbox.enqueue(
          trx,
          { job_id: randomUUID(), tenant_id: fired.tenant_id ?? '', project_key: '', scope: '', commit_id: eventId, type: ALERT_DELIVERY_JOB, payload: payload as unknown as JobPayload },
          this.config.alerting.deliveryMaxAttempts,
          metadata.occurred_at,
        );
      }
      deliveries = targets.length;
    };
    let outcome: CommandOutcome<AlertStreamState>;
    try {
      outcome = await handleCommand(
        this.store,
        alertDecider,
        { streamId: alertStreamId(decision.rule, decision.tenant_id), tenantId: decision.tenant_id },
        command,
        systemCommandContext({ actor: EVALUATOR, now }),
        // One attempt: an evaluator that loses the race (another appended first) records nothing.
        { atomically: { db: this.database.db, run: enqueueDeliveries }, maxAttempts: 1 },
      );
    } catch (err) {
      if (err instanceof AppError && err.code === 'concurrency_conflict') return null; // another evaluator recorded this stream's next event first
      throw err;
    }
    const event = outcome.events[0];
    if (!event) return null; // the stream had already decided it
    return { type: event.type as AlertEvent['type'], alert_id: alertId, deliveries };
  }
}
