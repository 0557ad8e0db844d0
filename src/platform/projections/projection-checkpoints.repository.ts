import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { DATABASE, type Database } from '../db/database';
import { type CheckpointRow, readCheckpoint } from './projection-store';

/** A projection's stored checkpoint and heartbeat, as the health check reads them. */
export interface CheckpointHeartbeat {
  readonly projection: string;
  readonly heartbeat_at: Date | null;
  /** The database clock when read (heartbeat ages are measured on one clock). */
  readonly now: Date;
  readonly tx: string;
  readonly gp: number;
}

/** proj_checkpoints, read by the projector's service (waits for a position, health). */
@Injectable()
export class ProjectionCheckpointsRepository {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  /** The stored checkpoint of one projection; undefined before its runner first started. */
  read(projection: string): Promise<CheckpointRow | undefined> {
    return readCheckpoint(this.database.db, projection);
  }

  /** Every stored checkpoint with its heartbeat and the database clock. */
  async heartbeats(): Promise<CheckpointHeartbeat[]> {
    const r = await sql<CheckpointHeartbeat>`
      SELECT projection, heartbeat_at, clock_timestamp() AS now, last_transaction_id::text AS tx, last_global_position AS gp
      FROM proj_checkpoints`.execute(this.database.db);
    return r.rows;
  }
}
