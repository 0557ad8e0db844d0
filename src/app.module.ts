import { type DynamicModule, Module } from '@nestjs/common';
import { AlertingModule } from './alerting/alerting.module';
import { ControlPlaneModule } from './control-plane/control-plane.module';
import { QuotasModule } from './control-plane/quotas/quotas.module';
import { ShardsModule } from './control-plane/shards/shards.module';
import { DataPlaneModule } from './data-plane/data-plane.module';
import { GovernanceModule } from './governance/governance.module';
import { OpsModule } from './ops/ops.module';
import { type Infrastructure, PlatformModule } from './platform/platform.module';

@Module({})
export class AppModule {
  static forRoot(infra: Infrastructure): DynamicModule {
    return { module: AppModule, imports: [PlatformModule.forRoot(infra), ControlPlaneModule, QuotasModule, ShardsModule, DataPlaneModule, OpsModule, GovernanceModule, AlertingModule] };
  }
}
