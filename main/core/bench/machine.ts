import os from 'node:os';
import type { MachineDescription } from '../../../common/bench';

export function describeMachine(): MachineDescription {
  return {
    hostname: os.hostname(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    date: new Date().toISOString(),
  };
}
