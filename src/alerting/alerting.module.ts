import { Module } from '@nestjs/common';
import { ControlPlaneModule } from '../control-plane/control-plane.module';
import { DataPlaneModule } from '../data-plane/data-plane.module';
import { AlertDelivery } from './alert-delivery';
import { AlertEvaluator } from './alert-evaluator';
import { AlertMetrics } from './alert-metrics';
import { AlertRecorder } from './alert-recorder';
import { AlertRoutesRepository } from './alert-routes.repository';
import { AlertRouteCommandHandler, SloCommandHandler } from './alerting.commands';
import { AlertRoutesController, AlertsController, SlosController } from './alerting.controllers';
import { AlertsRepository } from './alerts.repository';
import { PlatformSignalsRepository } from './platform-signals.repository';
import { SloBurnController } from './slo-burn.controller';
import { TenantSlosRepository } from './tenant-slos.repository';

/**
 * Alerting: SLO targets and overrides, the worker-role evaluator (burn-rate and platform alerts,
 * recorded as events on alert streams), alert routes, and their delivery through the outbox.
 */
@Module({
  imports: [ControlPlaneModule, DataPlaneModule],
  controllers: [AlertsController, SlosController, SloBurnController, AlertRoutesController],
  providers: [
    AlertsRepository,
    AlertRoutesRepository,
    TenantSlosRepository,
    PlatformSignalsRepository,
    SloCommandHandler,
    AlertRouteCommandHandler,
    AlertRecorder,
    AlertDelivery,
    AlertEvaluator,
    AlertMetrics,
  ],
  exports: [AlertEvaluator, AlertRecorder, AlertsRepository],
})
export class AlertingModule {}
