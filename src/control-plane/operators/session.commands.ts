import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import { SECRETS, type Secrets } from '../../platform/config/secrets';
import { EVENT_STORE, type EventStore } from '../../platform/event-store/event-store';
import { ProjectionsService } from '../../platform/projections/projections.service';
import { type CommandContext, handleCommand } from '../shared/command-handling';
import type { OperatorRole } from './operator.domain';
import { OperatorSessionsRepository } from './operator-sessions.repository';
import { sessionDecider } from './session.domain';
import { csrfToken, newSessionId, sessionHash, sessionKey } from './session-credentials';

export const sessionStreamId = (key: string): string => `session-${key}`;

export type SessionRequest =
  | { type: 'sign-in'; operator_id: string; role: OperatorRole }
  | { type: 'sign-out'; session_hash: string };

export interface SessionResult {
  /** Sign-in only: the session id (for the cookie) and its CSRF token. */
  readonly session_id: string | null;
  readonly csrf_token: string | null;
  readonly session_key: string | null;
  readonly expires_at: string | null;
}

export class ExecuteSessionCommand extends Command<SessionResult> {
  constructor(
    readonly request: SessionRequest,
    readonly context: CommandContext,
  ) {
    super();
  }
}

/**
 * Sign-in and sign-out through the one command path (events with the operator as actor). The
 * operator_sessions row follows the event on sign-in and precedes it on sign-out, so a failure
 * between the two never leaves a usable session the log does not show as open.
 */
@CommandHandler(ExecuteSessionCommand)
export class SessionCommandHandler implements ICommandHandler<ExecuteSessionCommand, SessionResult> {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(SECRETS) private readonly secrets: Secrets,
    private readonly sessions: OperatorSessionsRepository,
    private readonly projections: ProjectionsService,
  ) {}

  async execute({ request, context }: ExecuteSessionCommand): Promise<SessionResult> {
    switch (request.type) {
      case 'sign-in': {
        const id = newSessionId();
        const hash = sessionHash(this.secrets.keyPepper, id);
        const key = sessionKey(hash);
        const { sessionIdleMs, sessionMaxMs } = this.config.console;
        const expiresAt = new Date(context.now().getTime() + sessionMaxMs).toISOString();
        // Never idempotent: each sign-in is a new session (a repeated Idempotency-Key must not hand out a second cookie for one event).
        const outcome = await handleCommand(
          this.store,
          sessionDecider,
          { streamId: sessionStreamId(key), tenantId: null },
          { type: 'SignIn', session_key: key, operator_id: request.operator_id, role: request.role, idle_timeout_seconds: Math.round(sessionIdleMs / 1000), expires_at: expiresAt },
          { ...context, idempotencyKey: null, expectedRevision: null },
        );
        await this.sessions.insert({ session_hash: hash, session_key: key, operator_id: request.operator_id, idle_timeout_ms: sessionIdleMs, expires_at: expiresAt });
        // Read-your-writes: the sign-in is in the audit trail when the answer arrives.
        if (outcome.position) await this.projections.waitFor('audit', outcome.position, this.config.http.commandWaitMs);
        return { session_id: id, csrf_token: csrfToken(this.secrets.keyPepper, id), session_key: key, expires_at: expiresAt };
      }
      case 'sign-out': {
        const ended = await this.sessions.end(request.session_hash);
        if (ended) {
          const outcome = await handleCommand(
            this.store,
            sessionDecider,
            { streamId: sessionStreamId(ended.session_key), tenantId: null },
            { type: 'SignOut', session_key: ended.session_key, operator_id: ended.operator_id },
            { ...context, idempotencyKey: null, expectedRevision: null },
          );
          if (outcome.position) await this.projections.waitFor('audit', outcome.position, this.config.http.commandWaitMs);
        }
        return { session_id: null, csrf_token: null, session_key: ended?.session_key ?? null, expires_at: null };
      }
    }
  }
}
