import type { AnyProjection } from '../src/platform/projections/projection';
import { operatorsProjection } from './operators.projection';
import { projectsProjection } from './projects.projection';
import { tenantsProjection } from './tenants.projection';

/** Every read model the service maintains. The projector runs each; rebuilds and gates iterate this list. */
export const PROJECTIONS: readonly AnyProjection[] = [tenantsProjection, operatorsProjection, projectsProjection];

export { operatorsProjection, projectsProjection, tenantsProjection };
