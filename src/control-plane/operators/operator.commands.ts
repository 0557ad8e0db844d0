import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { randomBytes } from 'node:crypto';
import { SECRETS, type Secrets } from '../../platform/config/secrets';
import { EVENT_STORE, type EventStore } from '../../platform/event-store/event-store';
import { type CommandContext, type CommandOutcome, CommandPath, type ConsistencyBoundary, handleCommand, loadAggregate } from '../shared/command-handling';
import { OPERATOR_STREAM_PREFIX, operatorStreamId, OWNER_ROSTER_STREAM_ID } from '../shared/ids';
import { generateOperatorToken, hashToken, tokenHint } from './credentials';
import { activeOwnerIds, type OperatorCommand, operatorDecider, type OperatorEvent, type OperatorRole, type OperatorState, ownerRosterRecord } from './operator.domain';

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
    private readonly commands: CommandPath,
    @Inject(SECRETS) private readonly secrets: Secrets,
  ) {}

  /**
   * The last-active-owner rule holds under concurrency: the owners are folded from every operator
   * stream (the event store, not the lagging read model) after the owner roster's revision is
   * read, and a decision that releases an owner seat appends to the roster with that revision.
   */
  private readonly ownerRoster: ConsistencyBoundary<OperatorCommand, OperatorEvent, OperatorState> = {
    streamId: OWNER_ROSTER_STREAM_ID,
    refresh: async (command) => {
      if (command.type !== 'UpdateOperator' && command.type !== 'DisableOperator') return command;
      const streams = await this.store.streamIds(OPERATOR_STREAM_PREFIX);
      const states = await Promise.all(streams.map(async (id) => (await loadAggregate(this.store, operatorDecider, id)).state));
      return { ...command, active_owner_ids: activeOwnerIds(states) };
    },
    record: ownerRosterRecord,
  };

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
        outcome = await handleCommand(this.store, operatorDecider, { streamId: operatorStreamId(request.operator_id), tenantId: null }, { type: 'UpdateOperator', ...rest, active_owner_ids: [] }, context, { boundary: this.ownerRoster });
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
          { type: 'DisableOperator', operator_id: request.operator_id, reason: request.reason, active_owner_ids: [] },
          context,
          { boundary: this.ownerRoster },
        );
        break;
    }
    const readModelCurrent = await this.commands.settled('operators', outcome);
    // A replayed request (same Idempotency-Key) never shows a token again.
    return { ...outcome, token: outcome.events.length > 0 ? token : null, readModelCurrent };
  }
}
