import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { ShardDatabases } from '../../platform/db/shard-databases';
import { EVENT_STORE, type EventStore } from '../../platform/event-store/event-store';
import { type CommandContext, type CommandOutcome, CommandPath, type ConsistencyBoundary, handleCommand, loadAggregate } from '../shared/command-handling';
import { PLACEMENT_STREAM_PREFIX, placementStreamId, SHARD_ROSTER_STREAM_ID, SHARD_STREAM_PREFIX, shardStreamId, tenantStreamId } from '../shared/ids';
import { tenantDecider } from '../tenants/tenant.domain';
import { type ChangeTenantPlacement, placementDecider, type PlacementCommand, type PlacementEvent, placementRosterRecord, type PlacementState } from './placement.domain';
import { type RegisterShard, type RetireShard, SHARED_SHARD_ID, type ShardCommand, shardDecider, type ShardEvent, shardRosterRecord, type ShardState } from './shard.domain';

export interface ShardCommandResult extends CommandOutcome<ShardState> {
  /** False when the shards read model had not caught up within the wait budget. */
  readonly readModelCurrent: boolean;
  /** Migrations applied to the shard's database by a registration (empty otherwise). */
  readonly migrationsApplied: readonly string[];
}

/** A shard command as the edge knows it: the facts read at decision time are filled in by the handler. */
export type ShardRequest = Omit<RegisterShard, 'shards_supported' | 'ref_configured' | 'ref_used_by'> | Extract<ShardCommand, { type: 'DrainShard' }> | Omit<RetireShard, 'placed_tenant_ids'>;

export class ExecuteShardCommand extends Command<ShardCommandResult> {
  constructor(
    readonly request: ShardRequest,
    readonly context: CommandContext,
  ) {
    super();
  }
}

@CommandHandler(ExecuteShardCommand)
export class ShardCommandHandler implements ICommandHandler<ExecuteShardCommand, ShardCommandResult> {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly path: CommandPath,
    private readonly shards: ShardDatabases,
  ) {}

  /**
   * Registration, drain and retire against each other and placements: the facts (the tenants on
   * the shard, the shards using a reference) are folded from streams (the event store, not the
   * lagging read models) after the roster's revision is read, and the decision appends to the
   * roster with that revision (shard.domain.ts, shardRosterRecord).
   */
  private readonly roster: ConsistencyBoundary<ShardCommand, ShardEvent, ShardState> = {
    streamId: SHARD_ROSTER_STREAM_ID,
    refresh: async (command) => {
      if (command.type === 'RegisterShard') {
        const used: string[] = [];
        for (const id of await this.store.streamIds(SHARD_STREAM_PREFIX)) {
          const { state } = await loadAggregate(this.store, shardDecider, id);
          if (state.exists && state.state !== 'retired' && state.url_ref === command.url_ref) used.push(state.shard_id);
        }
        return { ...command, ref_used_by: used };
      }
      if (command.type !== 'RetireShard') return command;
      const streams = await this.store.streamIds(PLACEMENT_STREAM_PREFIX);
      const placed: string[] = [];
      for (const id of streams) {
        const { state } = await loadAggregate(this.store, placementDecider, id);
        if (state.exists && state.shard_id === command.shard_id) placed.push(state.tenant_id);
      }
      return { ...command, placed_tenant_ids: placed };
    },
    record: shardRosterRecord,
  };

  async execute({ request, context }: ExecuteShardCommand): Promise<ShardCommandResult> {
    const target = { streamId: shardStreamId(request.shard_id), tenantId: null };
    let outcome: CommandOutcome<ShardState>;
    let migrationsApplied: readonly string[] = [];
    if (request.type === 'RegisterShard') {
      const draft: RegisterShard = { ...request, shards_supported: this.shards.supported, ref_configured: this.shards.isConfigured(request.url_ref), ref_used_by: [] };
      // Provision before recording: a shard is registered only once its database answers and holds
      // the schema. Only when the decision would register it (the same pure decide, on the streams;
      // decided again, under the roster, by handleCommand).
      const { state } = await loadAggregate(this.store, shardDecider, target.streamId);
      if (shardDecider.decide(await this.roster.refresh(draft), state).length > 0) migrationsApplied = (await this.shards.provision(request.url_ref)).applied;
      outcome = await handleCommand(this.store, shardDecider, target, draft, context, { boundary: this.roster });
    } else {
      const command: ShardCommand = request.type === 'RetireShard' ? { ...request, placed_tenant_ids: [] } : request;
      outcome = await handleCommand(this.store, shardDecider, target, command, context, { boundary: this.roster });
    }
    return { ...outcome, readModelCurrent: await this.path.settled('shards', outcome), migrationsApplied };
  }
}

export interface PlacementCommandResult extends CommandOutcome<PlacementState> {
  readonly readModelCurrent: boolean;
}

/** A placement change as the migration saga asks for it (there is no HTTP route to this alone). */
export type PlacementRequest = Omit<ChangeTenantPlacement, 'tenant_exists' | 'target'>;

export class ExecutePlacementCommand extends Command<PlacementCommandResult> {
  constructor(
    readonly request: PlacementRequest,
    readonly context: CommandContext,
  ) {
    super();
  }
}

@CommandHandler(ExecutePlacementCommand)
export class PlacementCommandHandler implements ICommandHandler<ExecutePlacementCommand, PlacementCommandResult> {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly path: CommandPath,
  ) {}

  /** The tenant and the target shard are read from their streams after the roster's revision. */
  private readonly roster: ConsistencyBoundary<PlacementCommand, PlacementEvent, PlacementState> = {
    streamId: SHARD_ROSTER_STREAM_ID,
    refresh: async (command) => {
      const tenant = (await loadAggregate(this.store, tenantDecider, tenantStreamId(command.tenant_id))).state;
      const target = command.shard_id === SHARED_SHARD_ID ? null : (await loadAggregate(this.store, shardDecider, shardStreamId(command.shard_id))).state;
      return { ...command, tenant_exists: tenant.exists, target };
    },
    record: placementRosterRecord,
  };

  async execute({ request, context }: ExecutePlacementCommand): Promise<PlacementCommandResult> {
    const command: ChangeTenantPlacement = { ...request, tenant_exists: false, target: null };
    return this.path.handle('tenant_placements', placementDecider, { streamId: placementStreamId(request.tenant_id), tenantId: request.tenant_id }, command, context, { boundary: this.roster });
  }
}

