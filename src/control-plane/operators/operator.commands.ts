import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { randomBytes } from 'node:crypto';
import { APP_CONFIG, type AppConfig } from '../../platform/config/config';
import { SECRETS, type Secrets } from '../../platform/config/secrets';
import { EVENT_STORE, type EventStore } from '../../platform/event-store/event-store';
import { ProjectionsService } from '../../platform/projections/projections.service';
import { type CommandContext, type CommandOutcome, handleCommand } from '../shared/command-handling';
import { operatorStreamId } from '../shared/ids';
import { generateOperatorToken, hashToken, tokenHint } from './credentials';
import { operatorDecider, type OperatorRole, type OperatorState } from './operator.domain';
import { OperatorsRepository } from './operators.repository';

export type OperatorRequest =
  | { type: 'create'; operator_id: string | null; display_name: string; role: OperatorRole }
  | { type: 'update'; operator_id: string; display_name?: string; role?: OperatorRole }
  | { type: 'rotate-token'; operator_id: string; grace_seconds: number }
  | { type: 'disable'; operator_id: string; reason: string | null };

export interface OperatorCommandResult extends CommandOutcome<OperatorState> {
  /** Plaintext token: only in the response to create and rotate-token. */
  readonly token: string | null;
  readonly readModelCurrent: boolean;
}

export class ExecuteOperatorCommand extends Command<OperatorCommandResult> {
  constructor(
    readonly request: OperatorRequest,
    readonly context: CommandContext,
  ) {
    super();
  }
}

export function newOperatorId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let id = 'op_';
  for (const b of randomBytes(16)) id += alphabet[b % 32];
  return id;
}

@CommandHandler(ExecuteOperatorCommand)
export class OperatorCommandHandler implements ICommandHandler<ExecuteOperatorCommand, OperatorCommandResult> {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly projections: ProjectionsService,
    private readonly operators: OperatorsRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(SECRETS) private readonly secrets: Secrets,
  ) {}

  async execute({ request, context }: ExecuteOperatorCommand): Promise<OperatorCommandResult> {
    let token: string | null = null;
    let outcome: CommandOutcome<OperatorState>;
    switch (request.type) {
      case 'create': {
        token = generateOperatorToken();
        const id = request.operator_id ?? newOperatorId();
        outcome = await handleCommand(
          this.store,
          operatorDecider,
          { streamId: operatorStreamId(id), tenantId: null },
          { type: 'CreateOperator', operator_id: id, display_name: request.display_name, role: request.role, token_hash: hashToken(this.secrets.keyPepper, token), token_hint: tokenHint(token), bootstrap: false },
          context,
        );
        break;
      }
      case 'update': {
        const { type: _t, ...rest } = request;
        outcome = await handleCommand(this.store, operatorDecider, { streamId: operatorStreamId(request.operator_id), tenantId: null }, { type: 'UpdateOperator', ...rest, active_owners: await this.operators.countActiveOwners() }, context);
        break;
      }
      case 'rotate-token': {
        token = generateOperatorToken();
        outcome = await handleCommand(
          this.store,
          operatorDecider,
          { streamId: operatorStreamId(request.operator_id), tenantId: null },
          { type: 'RotateOperatorToken', operator_id: request.operator_id, token_hash: hashToken(this.secrets.keyPepper, token), token_hint: tokenHint(token), grace_seconds: request.grace_seconds, now: context.now().toISOString() },
          context,
        );
        break;
      }
      case 'disable':
        outcome = await handleCommand(
          this.store,
          operatorDecider,
          { streamId: operatorStreamId(request.operator_id), tenantId: null },
          { type: 'DisableOperator', operator_id: request.operator_id, reason: request.reason, active_owners: await this.operators.countActiveOwners() },
          context,
        );
        break;
    }
    const readModelCurrent = outcome.position ? await this.projections.waitForWrite('operators', outcome.position, this.config.http.commandWaitMs) : true;
    // A replayed request (same Idempotency-Key) never shows a token again.
    return { ...outcome, token: outcome.events.length > 0 ? token : null, readModelCurrent };
  }
}
