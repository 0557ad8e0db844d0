import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { operatorsProjection, type OperatorRow } from '../../../projections/operators.projection';
import { DATABASE, type Database } from '../../platform/db/database';
import { normaliseRow } from '../../platform/projections/projection-store';
import type { OperatorRole, OperatorStatus } from './operator.domain';

export interface OperatorCredentialRow {
  readonly operator_id: string;
  readonly display_name: string;
  readonly role: OperatorRole;
  readonly status: OperatorStatus;
  /** The digest that matched: the current token's, or the previous one's while its grace lasts. */
  readonly matched_hash: string;
}

/** Read side of operators (rm_operators). SQL only. */
@Injectable()
export class OperatorsRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  /** The operator whose current token, or previous token still in its grace, has this digest. */
  async findByTokenHash(tokenHash: string): Promise<OperatorCredentialRow | undefined> {
    const r = await sql<OperatorCredentialRow>`
      SELECT operator_id, display_name, role, status,
             CASE WHEN token_hash = ${tokenHash} THEN token_hash ELSE previous_token_hash END AS matched_hash
      FROM rm_operators
      WHERE token_hash = ${tokenHash}
         OR (previous_token_hash = ${tokenHash} AND previous_token_valid_until > clock_timestamp())
      LIMIT 1`.execute(this.database.db);
    return r.rows[0];
  }

  async get(operatorId: string): Promise<OperatorRow | undefined> {
    const row = await this.database.db.selectFrom('rm_operators').selectAll().where('operator_id', '=', operatorId).executeTakeFirst();
    return row ? (normaliseRow(operatorsProjection, row as unknown as Record<string, unknown>) as unknown as OperatorRow) : undefined;
  }

  async list(filter: { after?: string; limit: number; role?: OperatorRole; status?: OperatorStatus }): Promise<OperatorRow[]> {
    let q = this.database.db.selectFrom('rm_operators').selectAll().orderBy('operator_id').limit(filter.limit);
    if (filter.after !== undefined) q = q.where('operator_id', '>', filter.after);
    if (filter.role) q = q.where('role', '=', filter.role);
    if (filter.status) q = q.where('status', '=', filter.status);
    return (await q.execute()).map((r) => normaliseRow(operatorsProjection, r as unknown as Record<string, unknown>) as unknown as OperatorRow);
  }
}
