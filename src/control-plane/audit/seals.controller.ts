import { Controller, Get, Inject, Query, UseGuards } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { SECRETS, type Secrets } from '../../platform/config/secrets';
import { DATABASE, type Database } from '../../platform/db/database';
import { listSeals, type Seal } from '../../platform/event-store/seals';
import { parseInput } from '../../platform/http/validation';
import { AdminAuthGuard } from '../operators/admin-auth.guard';
import { ApiContract, objectResponse } from '../../platform/http/openapi';

const SealsQuery = z.strictObject({
  after: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

function view(s: Seal) {
  return {
    seal_no: s.body.seal_no,
    from: s.body.from,
    to: s.body.to,
    event_count: s.body.event_count,
    sealed_at: s.body.sealed_at,
    key_id: s.body.key_id,
    seal_hash: s.seal_hash,
    /** Exactly what was signed: Ed25519 over its canonical JSON. */
    body: s.body,
    signature: s.signature,
    /** Per tenant ("(global)": platform streams) count and digest of event hashes; committed by body.tenants_root. */
    tenants: s.tenants,
  };
}

/** The seal-signing public key: public by nature, so served without authentication. */
@ApiTags('audit')
@Controller('v1/audit')
export class AuditPublicKeyController {
  constructor(@Inject(SECRETS) private readonly secrets: Secrets) {}

  @Get('public-key')
  @ApiContract({ summary: 'The Ed25519 public key that signs global seals (no authentication)', auth: 'none', response: { status: 200, description: 'The seal-signing key', schema: z.object({ algorithm: z.literal("Ed25519"), key_id: z.string(), public_key_pem: z.string(), public_key_base64: z.string() }) } })
  publicKey(): { algorithm: 'Ed25519'; key_id: string; public_key_pem: string; public_key_base64: string } {
    const k = this.secrets.sealKey;
    return { algorithm: 'Ed25519', key_id: k.keyId, public_key_pem: k.publicKeyPem, public_key_base64: k.publicKeyBase64 };
  }
}

/** Global seals in seal order (docs/audit-seals.md). Readable by every operator role, auditors included. */
@ApiTags('audit')
@Controller('v1/admin/control/audit/seals')
@UseGuards(AdminAuthGuard)
export class SealsController {
  constructor(@Inject(DATABASE) private readonly database: Database) {}

  @Get()
  @ApiContract({ summary: 'Global seals with seal_no > after (default 0), ascending; limit 1..1000 (default 100)', auth: 'operator', query: SealsQuery, response: { status: 200, description: 'A page of seals', schema: z.object({ items: z.array(objectResponse("a signed global seal")), next_after: z.number().int(), has_more: z.boolean() }) }, example: { query: { after: '0', limit: '100' } } })
  async list(@Query() query: unknown): Promise<{ items: ReturnType<typeof view>[]; next_after: number; has_more: boolean }> {
    const q = parseInput(SealsQuery, query, 'query');
    const after = q.after ?? 0;
    const limit = q.limit ?? 100;
    const rows = await listSeals(this.database.db, { after, limit: limit + 1 });
    const page = rows.slice(0, limit);
    return { items: page.map(view), next_after: page.at(-1)?.body.seal_no ?? after, has_more: rows.length > limit };
  }
}
