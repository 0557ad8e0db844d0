import { cpus, loadavg, release, totalmem } from 'node:os';
import type { MachineFacts } from './report';

export function machineFacts(postgres: string): MachineFacts {
  const cpu = cpus();
  return {
    cpus: cpu.length,
    cpu_model: (cpu[0]?.model ?? 'unknown').trim(),
    ram_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    postgres,
    platform: `${process.platform} ${release()}`,
    load_average_at_start: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}
