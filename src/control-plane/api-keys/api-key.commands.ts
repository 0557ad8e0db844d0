import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { SECRETS, type Secrets } from '../../platform/config/secrets';
import { AppError } from '../../platform/errors/app-error';
import { EVENT_STORE, type EventStore } from '../../platform/event-store/event-store';
import { projectDecider, type TenantSnapshot } from '../projects/project.domain';
import { type CommandContext, type CommandOutcome, CommandPath, handleCommand, loadAggregate } from '../shared/command-handling';
import { apiKeyStreamId, projectStreamId, tenantStreamId } from '../shared/ids';
import { tenantDecider, type Metadata } from '../tenants/tenant.domain';
import { apiKeyDecider, type ApiKeyState, type KeyTerms, type ProjectSnapshot, type Scope, successorTerms } from './api-key.domain';
import { displayOf, generateApiKey, hashSecret } from './key-format';
import { KeyVerifier } from './key-verifier';

/** Fail closed: a revoke arriving this soon after a rotation of the same key also revokes the successor. */
export const ROTATION_RACE_WINDOW_MS = 2000;

export type ApiKeyRequest =
  | {
      type: 'create';
      tenant_id: string;
      project_id: string | null;
      agent_id: string | null;
      team_id: string | null;
      label: string;
      scopes: Scope[];
      expires_at: string | null;
      allowed_cidrs: string[];
      allowed_client_identities: string[];
      metadata: Metadata;
    }
  /** Label, metadata and allowed client identities: a key's tenant, project, agent, team, scopes, expiry and CIDRs are fixed. */
  | { type: 'update'; key_id: string; label?: string; metadata?: Metadata; allowed_client_identities?: string[] }
  | { type: 'rotate'; key_id: string; grace_seconds: number; label?: string }
  | { type: 'revoke'; key_id: string; reason: string | null };

export interface ApiKeyCommandResult {
  readonly key: ApiKeyState;
  readonly revision: number;
  /** The plaintext key: present exactly once, in the response to create or rotate. */
  readonly plaintext: string | null;
  /** For rotate: the old key after the rotation. */
  readonly predecessor: ApiKeyState | null;
  readonly readModelCurrent: boolean;
}

export class ExecuteApiKeyCommand extends Command<ApiKeyCommandResult> {
  constructor(
    readonly request: ApiKeyRequest,
    readonly context: CommandContext,
  ) {
    super();
  }
}

/**
 * API-key commands. Create and rotate mint the secret here (only its HMAC reaches the log).
 * Rotation is two appends: the successor is created first, then the old key is marked rotated
 * with its grace; if the old key was revoked in between, the successor is revoked at once. A revoke
 * racing a rotation (the rotation committed after the revoke was requested, or while it was being
 * decided) revokes the successor too: a rotate racing a revoke always ends with both keys revoked.
 * A revoke requested later than ROTATION_RACE_WINDOW_MS after a rotation committed revokes only the
 * old key (ending its grace early).
 */
@CommandHandler(ExecuteApiKeyCommand)
export class ApiKeyCommandHandler implements ICommandHandler<ExecuteApiKeyCommand, ApiKeyCommandResult> {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly commands: CommandPath,
    @Inject(SECRETS) private readonly secrets: Secrets,
    private readonly verifier: KeyVerifier,
  ) {}

  private async tenantSnapshot(tenantId: string): Promise<TenantSnapshot> {
    const { state } = await loadAggregate(this.store, tenantDecider, tenantStreamId(tenantId));
    return { tenant_id: tenantId, exists: state.exists, status: state.exists ? state.status : null };
  }

  private async projectSnapshot(projectId: string): Promise<ProjectSnapshot> {
    const { state } = await loadAggregate(this.store, projectDecider, projectStreamId(projectId));
    return { project_id: projectId, exists: state.exists, tenant_id: state.exists ? state.tenant_id : null, status: state.exists ? state.status : null };
  }

  private async settle(outcome: CommandOutcome<ApiKeyState>): Promise<boolean> {
    return this.commands.settled('api_keys', outcome);
  }

  private async mint(terms: KeyTerms, context: CommandContext): Promise<{ outcome: CommandOutcome<ApiKeyState>; plaintext: string }> {
    const { token, keyId, secret } = generateApiKey('live');
    const tenant = await this.tenantSnapshot(terms.tenant_id);
    const project = terms.project_id !== null ? await this.projectSnapshot(terms.project_id) : null;
    const outcome = await handleCommand(
      this.store,
      apiKeyDecider,
      { streamId: apiKeyStreamId(keyId), tenantId: terms.tenant_id },
      {
        type: 'CreateApiKey',
        key: { key_id: keyId, secret_hash: hashSecret(this.secrets.keyPepper, secret), display: displayOf(token) },
        tenant,
        project,
        agent_id: terms.agent_id,
        team_id: terms.team_id,
        label: terms.label,
        scopes: terms.scopes,
        expires_at: terms.expires_at,
        allowed_cidrs: terms.allowed_cidrs,
        allowed_client_identities: terms.allowed_client_identities,
        metadata: terms.metadata,
        rotated_from: terms.rotated_from,
        now: context.now().toISOString(),
      },
      // A fresh stream: the idempotency key (if any) belongs to the outer request, not to this append.
      { ...context, idempotencyKey: null, expectedRevision: null },
    );
    return { outcome, plaintext: token };
  }

  async execute({ request, context }: ExecuteApiKeyCommand): Promise<ApiKeyCommandResult> {
    switch (request.type) {
      case 'create': {
        const { type: _t, ...rest } = request;
        const { outcome, plaintext } = await this.mint({ ...rest, rotated_from: null }, context);
        return { key: outcome.state, revision: outcome.revision, plaintext, predecessor: null, readModelCurrent: await this.settle(outcome) };
      }
      case 'update': {
        const { type: _t, ...rest } = request;
        const outcome = await handleCommand(this.store, apiKeyDecider, await this.target(request.key_id), { type: 'UpdateApiKey', ...rest }, context);
        return { key: outcome.state, revision: outcome.revision, plaintext: null, predecessor: null, readModelCurrent: await this.settle(outcome) };
      }
      case 'rotate':
        return this.rotate(request, context);
      case 'revoke':
        return this.revoke(request, context);
    }
  }

  private async target(keyId: string): Promise<{ streamId: string; tenantId: string | null }> {
    const { state } = await loadAggregate(this.store, apiKeyDecider, apiKeyStreamId(keyId));
    if (!state.exists) throw new AppError('api_key_not_found', `API key ${keyId} does not exist`, { key_id: keyId });
    return { streamId: apiKeyStreamId(keyId), tenantId: state.tenant_id };
  }

  private async rotate(request: Extract<ApiKeyRequest, { type: 'rotate' }>, context: CommandContext): Promise<ApiKeyCommandResult> {
    const { state: old, revision } = await loadAggregate(this.store, apiKeyDecider, apiKeyStreamId(request.key_id));
    if (!old.exists) throw new AppError('api_key_not_found', `API key ${request.key_id} does not exist`, { key_id: request.key_id });
    if (context.expectedRevision !== null && context.expectedRevision !== revision) {
      throw new AppError('precondition_failed', `If-Match revision ${context.expectedRevision} is stale; the current revision is ${revision}`, { current_revision: revision });
    }
    // Check first (no successor is minted for a key that cannot be rotated).
    apiKeyDecider.decide({ type: 'RotateApiKey', key_id: old.key_id, successor_key_id: 'k-check', grace_seconds: request.grace_seconds, now: context.now().toISOString() }, old);
    // The successor speaks for the same tenant, project, agent and team as the old key.
    const successor = await this.mint(successorTerms(old, request.label), context);
    const successorId = successor.outcome.state.exists ? successor.outcome.state.key_id : '';
    try {
      const rotated = await handleCommand(
        this.store,
        apiKeyDecider,
        { streamId: apiKeyStreamId(old.key_id), tenantId: old.tenant_id },
        { type: 'RotateApiKey', key_id: old.key_id, successor_key_id: successorId, grace_seconds: request.grace_seconds, now: context.now().toISOString() },
        { ...context, expectedRevision: revision },
      );
      const readModelCurrent = (await this.settle(successor.outcome)) && (await this.settle(rotated));
      return { key: successor.outcome.state, revision: successor.outcome.revision, plaintext: successor.plaintext, predecessor: rotated.state, readModelCurrent };
    } catch (err) {
      // The old key changed under us (typically: revoked). The successor must not outlive it.
      this.verifier.deny(successorId);
      const undone = await handleCommand(
        this.store,
        apiKeyDecider,
        { streamId: apiKeyStreamId(successorId), tenantId: old.tenant_id },
        { type: 'RevokeApiKey', key_id: successorId, reason: 'rotation aborted: the key being rotated changed concurrently', cascade_from: old.key_id },
        { ...context, idempotencyKey: null, expectedRevision: null },
      );
      await this.settle(undone);
      if (err instanceof AppError && err.code === 'precondition_failed' && context.expectedRevision === null) {
        const { state: now } = await loadAggregate(this.store, apiKeyDecider, apiKeyStreamId(old.key_id));
        if (now.exists && now.status === 'revoked') throw new AppError('api_key_revoked', `API key ${old.key_id} was revoked while it was being rotated`, { key_id: old.key_id });
        throw new AppError('concurrency_conflict', `API key ${old.key_id} changed while it was being rotated; retry`, { key_id: old.key_id });
      }
      throw err;
    }
  }

  private async revoke(request: Extract<ApiKeyRequest, { type: 'revoke' }>, context: CommandContext): Promise<ApiKeyCommandResult> {
    const streamId = apiKeyStreamId(request.key_id);
    const before = await loadAggregate(this.store, apiKeyDecider, streamId);
    if (!before.state.exists) throw new AppError('api_key_not_found', `API key ${request.key_id} does not exist`, { key_id: request.key_id });
    const target = { streamId, tenantId: before.state.tenant_id };
    const command = { type: 'RevokeApiKey' as const, key_id: request.key_id, reason: request.reason, cascade_from: null };
    let outcome: CommandOutcome<ApiKeyState>;
    // A rotation committed after this revoke was requested, or just before (ROTATION_RACE_WINDOW_MS),
    // is one the requester cannot have known about: it raced the revoke, and its successor goes too.
    let raced =
      before.state.rotated_at !== null &&
      context.requestedAt !== undefined &&
      Date.parse(before.state.rotated_at) >= context.requestedAt.getTime() - ROTATION_RACE_WINDOW_MS;
    try {
      // First attempt at the revision we looked at: a conflict tells us something happened meanwhile.
      outcome = await handleCommand(this.store, apiKeyDecider, target, command, { ...context, expectedRevision: context.expectedRevision ?? before.revision });
    } catch (err) {
      if (!(err instanceof AppError && err.code === 'precondition_failed') || context.expectedRevision !== null) throw err;
      const after = await loadAggregate(this.store, apiKeyDecider, streamId);
      raced = raced || (after.state.exists && before.state.successor_key_id === null && after.state.successor_key_id !== null);
      outcome = await handleCommand(this.store, apiKeyDecider, target, command, context);
    }
    this.verifier.deny(request.key_id);
    if (raced && outcome.state.exists && outcome.state.successor_key_id) {
      const successorId = outcome.state.successor_key_id;
      this.verifier.deny(successorId);
      const cascaded = await handleCommand(
        this.store,
        apiKeyDecider,
        { streamId: apiKeyStreamId(successorId), tenantId: outcome.state.tenant_id },
        { type: 'RevokeApiKey', key_id: successorId, reason: `revoked together with ${request.key_id}, whose rotation raced this revocation`, cascade_from: request.key_id },
        { ...context, idempotencyKey: null, expectedRevision: null },
      ).catch((err: unknown) => {
        if (!(err instanceof AppError && err.code === 'api_key_revoked')) throw err;
        return null;
      });
      if (cascaded) await this.settle(cascaded);
    }
    return { key: outcome.state, revision: outcome.revision, plaintext: null, predecessor: null, readModelCurrent: await this.settle(outcome) };
  }
}
