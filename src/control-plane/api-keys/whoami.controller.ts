import { Controller, Get, Req, UseGuards } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiKeyAuthGuard, type KeyRequest } from './api-key-auth.guard';

@ApiTags('auth')
@Controller('v1/auth')
export class WhoamiController {
  @Get('whoami')
  @UseGuards(ApiKeyAuthGuard)
  @ApiHeader({ name: 'x-api-key', required: false, description: 'The API key (or send Authorization: Bearer <key>)' })
  @ApiOperation({ summary: 'Who this API key speaks for: tenant, project, agent, team, key id and scopes' })
  whoami(@Req() req: KeyRequest) {
    const p = req.principal;
    if (!p) throw new Error('guard did not attach a principal');
    return { tenant_id: p.tenant_id, project_id: p.project_id, agent_id: p.agent_id, team_id: p.team_id, key_id: p.key_id, key_display: p.display, scopes: p.scopes };
  }
}
