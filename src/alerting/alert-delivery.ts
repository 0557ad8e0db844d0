import { createHmac } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../platform/config/config';
import { SECRETS, type Secrets } from '../platform/config/secrets';
import type { ClaimedJob } from '../data-plane/outbox/outbox.repository';
import { OutboxHandlers } from '../data-plane/outbox/outbox-handlers';
import { slackPayload } from './alert-message';
import { ALERT_DELIVERY_JOB, type AlertDeliveryPayload } from './alert-recorder';
import { AlertRoutesRepository } from './alert-routes.repository';
import { openRouteUrl, routeUrlKey } from './route-url';
import { SIGNATURE_HEADER, signatureHeader } from './webhook-signature';

/**
 * A route's webhook signing secret, derived from the deployment's KEY_PEPPER: nothing secret is
 * stored in the log or a read model, and every instance computes the same secret. Owners read it
 * with GET /v1/admin/control/alert-routes/{route_id}/signing-secret.
 */
export function routeSigningSecret(pepper: string, routeId: string): string {
  return `whsec_${createHmac('sha256', pepper).update(`aionis-alert-route:${routeId}`).digest('base64url')}`;
}

/**
 * Sends alert_delivery outbox jobs (registered with the outbox worker). A non-2xx answer or a
 * network error is a failed attempt: the worker retries with backoff and dead-letters after
 * ALERT_DELIVERY_MAX_ATTEMPTS; a dead letter is replayed like every other outbox job. Receivers
 * deduplicate by X-Aionis-Delivery (the job id: the same on every retry and replay).
 */
@Injectable()
export class AlertDelivery {
  private readonly logger = new Logger('AlertDelivery');

  constructor(
    handlers: OutboxHandlers,
    private readonly routes: AlertRoutesRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(SECRETS) private readonly secrets: Secrets,
  ) {
    // In the constructor: registered before any worker loop starts (onModuleInit).
    handlers.register(ALERT_DELIVERY_JOB, (job) => this.deliver(job));
  }

  async deliver(job: ClaimedJob): Promise<void> {
    const payload = job.payload as unknown as AlertDeliveryPayload;
    const route = await this.routes.get(payload.route_id);
    if (!route || !route.enabled) {
      // Disabled (or removed) after the alert was routed: nothing to send, nothing to retry.
      this.logger.log({ msg: 'alert delivery skipped: route disabled', route_id: payload.route_id, job_id: job.job_id });
      return;
    }
    const body = JSON.stringify(route.kind === 'slack' ? slackPayload(payload.message) : { delivery_id: job.job_id, ...payload.message });
    const unix = Math.floor(Date.now() / 1000);
    const res = await fetch(openRouteUrl(routeUrlKey(this.secrets.keyPepper), route.url), {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'User-Agent': 'aionis-alerts/1',
        'X-Aionis-Delivery': job.job_id,
        'X-Aionis-Event': payload.message.event,
        [SIGNATURE_HEADER]: signatureHeader(routeSigningSecret(this.secrets.keyPepper, route.route_id), body, unix),
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(this.config.alerting.deliveryTimeoutMs),
    });
    await res.arrayBuffer().catch(() => undefined);
    if (res.status < 200 || res.status >= 300) throw new Error(`alert route ${route.route_id} answered HTTP ${res.status}`);
  }
}
