import { z } from 'zod';
import { Controller, Get, Req, UseGuards } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { ApiKeyAuthGuard, type KeyRequest } from './api-key-auth.guard';
import { ApiContract } from '../../platform/http/openapi';

@ApiTags('auth')
@Controller('v1/auth')
export class WhoamiController {
  @Get('whoami')
  @UseGuards(ApiKeyAuthGuard)
  @ApiContract({ summary: 'Who this API key speaks for: tenant, project, agent, team, key id and scopes', auth: 'api_key', response: { status: 200, description: "The key's principal", schema: z.looseObject({ tenant_id: z.string(), project_id: z.string().nullable(), agent_id: z.string().nullable(), team_id: z.string().nullable(), key_id: z.string(), scopes: z.array(z.string()) }) } })
  whoami(@Req() req: KeyRequest) {
    const p = req.principal;
    if (!p) throw new Error('guard did not attach a principal');
    return { tenant_id: p.tenant_id, project_id: p.project_id, agent_id: p.agent_id, team_id: p.team_id, key_id: p.key_id, key_display: p.display, scopes: p.scopes };
  }
}
