import { Inject, Injectable } from '@nestjs/common';
import { DATABASE, type Database } from '../../platform/db/database';
import type { OperatorRole, OperatorStatus } from './operator.domain';

export interface OperatorCredentialRow {
  readonly operator_id: string;
  readonly display_name: string;
  readonly role: OperatorRole;
  readonly status: OperatorStatus;
  readonly token_hash: string;
}

/** Read side of operators (rm_operators). SQL only. */
@Injectable()
export class OperatorsRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  async findByTokenHash(tokenHash: string): Promise<OperatorCredentialRow | undefined> {
    const row = await this.database.db
      .selectFrom('rm_operators')
      .select(['operator_id', 'display_name', 'role', 'status', 'token_hash'])
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
    return row as OperatorCredentialRow | undefined;
  }
}
