import type { Command } from 'commander';
import { DIGEST_STEPS, exportRun } from '../../../experiments/report/export-run.js';
import { readMachineRecords } from '../../run/machine-log.js';

export function register(program: Command): void {
  program
    .command('export')
    .description(
      `copy a run's results to a folder small enough to commit: config.json, status.json, eval.csv, machine.jsonl and metrics.jsonl cut to every evaluation and one train and episode record per ${DIGEST_STEPS.toLocaleString('en-US')} env steps (never checkpoints); \`curl-rl report\` reads the copy as a run`,
    )
    .argument('<run-dir>', 'the run directory (as train wrote it)')
    .argument('<out-dir>', 'where the results go (replaced as a whole if it exists), e.g. experiments/results/<benchmark>/<variant>-s<seed>')
    .action((runDir: string, outDir: string) => {
      const result = exportRun(runDir, outDir);
      const { records } = result;
      console.log(`${runDir} -> ${result.out}: ${result.files.join(', ')} (${records.eval} evaluations, ${records.train} train and ${records.episode} episode records kept, ${records.dropped} left out)`);
      const machines = readMachineRecords(result.out);
      if (machines.length === 0) console.log('note: the run has no machine.jsonl (it predates it): say in its results which CPU, engine and precision it ran on.');
    });
}
