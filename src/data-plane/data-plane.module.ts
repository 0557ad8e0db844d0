import { Module } from '@nestjs/common';
import { ControlPlaneModule } from '../control-plane/control-plane.module';
import { MemoryController } from './memory.controller';
import { MemoryRepository } from './memory.repository';
import { MemoryService } from './memory.service';

/** The data plane: the hosted memory API, authenticated by API key (guard and verifier come from the control plane). */
@Module({
  imports: [ControlPlaneModule],
  controllers: [MemoryController],
  providers: [MemoryRepository, MemoryService],
})
export class DataPlaneModule {}
