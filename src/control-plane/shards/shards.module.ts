import { Module } from '@nestjs/common';
import { ShardDatabases } from '../../platform/db/shard-databases';
import { ControlPlaneModule } from '../control-plane.module';
import { PlacementCommandHandler, ShardCommandHandler } from './shard.commands';
import { PlacementController, ShardsController } from './shards.controller';
import { ShardsRepository, TenantPlacementsRepository } from './shards.repository';

/**
 * Shards and tenant placement (docs/adr/0006-tenant-shards-and-placement.md): the shard registry's
 * endpoints, the placement read side, and the placement command the migration saga will drive.
 */
@Module({
  // The command bus is global (CqrsModule.forRoot in ControlPlaneModule); the admin guard comes from there too.
  imports: [ControlPlaneModule],
  controllers: [ShardsController, PlacementController],
  providers: [ShardCommandHandler, PlacementCommandHandler, ShardsRepository, TenantPlacementsRepository, ShardDatabases],
  exports: [ShardDatabases, TenantPlacementsRepository],
})
export class ShardsModule {}
