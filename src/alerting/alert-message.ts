import type { AlertNumbers } from './alert.domain';
import type { Severity } from './burn-rate';

/** What a delivery says about one alert firing or resolving (the webhook body; Slack's text is made from it). */
export interface AlertMessage {
  readonly event: 'alert.fired' | 'alert.resolved';
  readonly alert_id: string;
  readonly rule: string;
  readonly severity: Severity;
  readonly tenant_id: string | null;
  readonly state: 'firing' | 'resolved';
  readonly fired_at: string;
  readonly resolved_at: string | null;
  readonly numbers: AlertNumbers;
  readonly runbook_url: string;
  readonly console_url: string;
}

const fmt = (numbers: AlertNumbers): string =>
  Object.entries(numbers)
    .map(([k, v]) => `${k}=${v === null ? 'null' : String(v)}`)
    .join(', ');

/** A Slack-compatible incoming-webhook payload: `text` (notifications, fallbacks) and `blocks`. */
export function slackPayload(m: AlertMessage): { text: string; blocks: unknown[] } {
  const icon = m.state === 'firing' ? (m.severity === 'page' ? ':rotating_light:' : ':warning:') : ':white_check_mark:';
  const who = m.tenant_id ? `tenant ${m.tenant_id}` : 'platform';
  const text = `${icon} [${m.state.toUpperCase()}] ${m.rule} (${m.severity}) on ${who}`;
  return {
    text: `${text}: ${fmt(m.numbers)} | runbook: ${m.runbook_url} | console: ${m.console_url}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*${text}*` } },
      { type: 'section', text: { type: 'mrkdwn', text: '```' + fmt(m.numbers) + '```' } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `<${m.runbook_url}|Runbook> · <${m.console_url}|Console> · alert ${m.alert_id}` }] },
    ],
  };
}
