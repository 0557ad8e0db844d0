import { Module } from '@nestjs/common';
import { ControlPlaneModule } from '../control-plane/control-plane.module';
import { APP_CONFIG, type AppConfig } from '../platform/config/config';
import { ComplianceController } from './compliance/compliance.controller';
import { EVIDENCE_STORE, evidenceStoreFrom } from './evidence/evidence-store.factory';
import { GovernanceController } from './governance.controller';
import { GovernanceService } from './governance.service';
import { SloStatementsController } from './slo-statements/slo-statements.controller';

/** Governance and release evidence: the evidence archive, weekly reports and their schedule, compliance and SLO statements. */
@Module({
  // The admin guard comes from the control plane.
  imports: [ControlPlaneModule],
  controllers: [GovernanceController, ComplianceController, SloStatementsController],
  providers: [GovernanceService, { provide: EVIDENCE_STORE, useFactory: (config: AppConfig) => evidenceStoreFrom(config), inject: [APP_CONFIG] }],
  exports: [GovernanceService, EVIDENCE_STORE],
})
export class GovernanceModule {}
