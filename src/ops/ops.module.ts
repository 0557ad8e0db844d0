import { Module } from '@nestjs/common';
import { AlertingModule } from '../alerting/alerting.module';
import { ControlPlaneModule } from '../control-plane/control-plane.module';
import { PerfTeardownController } from '../control-plane/tenants/perf-teardown.controller';
import { PENDING_WRITES, type PendingWrites, TearDownPerfTenantHandler, TENANT_ROWS, type TenantRows } from '../control-plane/tenants/perf-teardown';
import { ApiKeyUsageRepository } from '../control-plane/api-keys/api-key-usage.repository';
import { TenantDataRepository } from '../data-plane/memory/tenant-data.repository';
import { KeyVerifier } from '../control-plane/api-keys/key-verifier';
import { DataPlaneModule } from '../data-plane/data-plane.module';
import { TelemetryRecorder } from '../data-plane/telemetry/telemetry-recorder';
import { OverviewController } from './overview.controller';
import { ProjectionsController } from './projections.controller';
import { RuntimeController } from './runtime.controller';

/**
 * Operations endpoints that need both planes: the runtime facts preflight reads, the console's
 * tenant overview (telemetry, quotas, outbox and firing alerts side by side), and the perf
 * tenant teardown (a tenant command that also removes the tenant's data-plane rows, after flushing
 * this instance's buffered telemetry and key-usage rows).
 */
@Module({
  imports: [ControlPlaneModule, DataPlaneModule, AlertingModule],
  controllers: [RuntimeController, ProjectionsController, PerfTeardownController, OverviewController],
  providers: [
    TearDownPerfTenantHandler,
    ApiKeyUsageRepository,
    {
      provide: TENANT_ROWS,
      useFactory: (data: TenantDataRepository, keyUsage: ApiKeyUsageRepository): TenantRows[] => [data, keyUsage],
      inject: [TenantDataRepository, ApiKeyUsageRepository],
    },
    {
      provide: PENDING_WRITES,
      useFactory: (telemetry: TelemetryRecorder, keys: KeyVerifier): PendingWrites[] => [{ flush: () => telemetry.flush() }, { flush: () => keys.flushUsage() }],
      inject: [TelemetryRecorder, KeyVerifier],
    },
  ],
})
export class OpsModule {}
