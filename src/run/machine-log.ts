/*
 * Where a run ran: one line per start or resume in <run>/machine.jsonl (CPU,
 * its bf16 support, engine, libtorch, precision, threads). A run resumed on
 * another machine keeps both lines, so a result can say what produced each
 * part of its curve; committed results carry the file (experiments/report/export-run.ts).
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { cpus, hostname } from 'node:os';
import { join } from 'node:path';

export const MACHINE_LOG = 'machine.jsonl';

/** The /proc/cpuinfo flags that decide how bf16 and the convs run here (a subset, to keep lines short). */
const relevantFlags = ['avx2', 'avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile'] as const;

export interface MachineRecord {
  startedAt: string;
  /** The agent step the session started from: 0 for a fresh run, the checkpoint's on resume. */
  fromAgentStep: number;
  host: string;
  cpuModel: string;
  cores: number;
  /** Which of the relevant CPU flags this CPU has (Linux; empty elsewhere). */
  cpuFlags: string[];
  node: string;
  backend: string;
  convEngine: string;
  /** libtorch's version when the conv engine is libtorch. */
  libtorch?: string;
  precision: string;
  threads: number;
}

export function cpuFlags(cpuinfo = readCpuinfo()): string[] {
  const line = cpuinfo.split('\n').find((l) => l.startsWith('flags'));
  if (line === undefined) return [];
  const have = new Set(line.slice(line.indexOf(':') + 1).trim().split(/\s+/));
  return relevantFlags.filter((flag) => have.has(flag));
}

function readCpuinfo(): string {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}

export function describeMachine(parts: Omit<MachineRecord, 'startedAt' | 'host' | 'cpuModel' | 'cores' | 'cpuFlags' | 'node'>): MachineRecord {
  const cpuList = cpus();
  return {
    startedAt: new Date().toISOString(),
    host: hostname(),
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    cores: cpuList.length,
    cpuFlags: cpuFlags(),
    node: process.version,
    ...parts,
  };
}

/** One line, appended: a torn last line (a crash mid-write) only loses that line, and readers skip it. */
export function appendMachineRecord(runDir: string, record: MachineRecord): void {
  appendFileSync(join(runDir, MACHINE_LOG), `${JSON.stringify(record)}\n`);
}

export function readMachineRecords(runDir: string): MachineRecord[] {
  const path = join(runDir, MACHINE_LOG);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .flatMap((line) => {
      try {
        const value = JSON.parse(line) as unknown;
        return value !== null && typeof value === 'object' && typeof (value as MachineRecord).cpuModel === 'string' ? [value as MachineRecord] : [];
      } catch {
        return [];
      }
    });
}
