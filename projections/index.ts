import type { AnyProjection } from '../src/platform/projections/projection';
import { alertRoutesProjection } from './alert-routes.projection';
import { alertsProjection } from './alerts.projection';
import { apiKeysProjection } from './api-keys.projection';
import { auditProjection } from './audit.projection';
import { operatorsProjection } from './operators.projection';
import { projectsProjection } from './projects.projection';
import { quotasProjection } from './quotas.projection';
import { shardsProjection } from './shards.projection';
import { tenantPlacementsProjection } from './tenant-placements.projection';
import { tenantSlosProjection } from './tenant-slos.projection';
import { tenantsProjection } from './tenants.projection';

/** Every read model the service maintains. The projector runs each; rebuilds and gates iterate this list. */
export const PROJECTIONS: readonly AnyProjection[] = [tenantsProjection, operatorsProjection, projectsProjection, apiKeysProjection, auditProjection, quotasProjection, tenantSlosProjection, alertsProjection, alertRoutesProjection, shardsProjection, tenantPlacementsProjection];

export { shardsProjection, tenantPlacementsProjection, alertRoutesProjection, alertsProjection, tenantSlosProjection, apiKeysProjection, auditProjection, operatorsProjection, projectsProjection, tenantsProjection };
