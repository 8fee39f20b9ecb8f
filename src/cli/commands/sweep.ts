import { dirname, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { ConfigError, CurlRlError } from '../../errors.js';
import { defaultParallelism, indexPath, planRun, runSweep, type SweepEvent } from '../../../experiments/sweep/runner.js';
import { expandSweep, freshTrainArgs, loadSweepFile, resumeTrainArgs } from '../../../experiments/sweep/spec.js';
import { formatDuration } from '../../../experiments/report/markdown.js';

/** The sweep ended with runs that did not finish; the index says which and why. */
export class SweepIncompleteError extends CurlRlError {
  override readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

function parseParallel(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`--parallel ${JSON.stringify(raw)} is invalid: expected a positive integer`);
  return n;
}

export function register(program: Command): void {
  program
    .command('sweep')
    .description('run every task x seed x aux run of a sweep file as child processes; re-run to continue (finished runs are skipped, interrupted ones resumed)')
    .argument('<file>', 'sweep file (JSON: name, tasks, seeds, aux, preset?, overrides?, runsDir?)')
    .addOption(new Option('--parallel <n>', `runs at once (default: from cores and free memory, here ${defaultParallelism()})`).argParser(parseParallel))
    .option('--runs-dir <dir>', "folder for the sweep's runs (default: the file's runsDir, else ./runs)")
    .option('--dry-run', 'print what would run (skip / resume / start, with the train command) and exit')
    .action(async (file: string, opts: { parallel?: number; runsDir?: string; dryRun?: boolean }) => {
      const path = resolve(file);
      const sweep = expandSweep(loadSweepFile(path), {
        baseDir: dirname(path),
        ...(opts.runsDir !== undefined ? { runsDir: opts.runsDir } : {}),
      });
      const total = sweep.runs.length;
      if (opts.dryRun) {
        console.log(`sweep ${sweep.name}: ${total} runs in ${sweep.dir}`);
        for (const run of sweep.runs) {
          const action = planRun(run);
          const args = action === 'skip' ? [] : action === 'resume' ? resumeTrainArgs(run) : freshTrainArgs(run);
          console.log(`${action.padEnd(6)} ${run.id}${args.length ? `  curl-rl ${args.join(' ')}` : ''}`);
        }
        return;
      }
      const parallel = opts.parallel ?? defaultParallelism();
      console.log(`sweep ${sweep.name}: ${total} runs, ${parallel} at a time, in ${sweep.dir} (logs in logs/, index in index.json)`);
      const controller = new AbortController();
      let stopSignal: string | undefined;
      const stop = (signal: NodeJS.Signals): void => {
        if (controller.signal.aborted) {
          console.log(`${signal} again: still waiting for the running trains to write their checkpoints.`);
          return;
        }
        stopSignal = signal;
        console.log(`\n${signal}: no new runs; asking running trains to checkpoint and stop. Re-run the same command to continue.`);
        controller.abort();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      let done = 0;
      const onEvent = (event: SweepEvent): void => {
        if (event.type === 'start') {
          console.log(`start  ${event.run.id} (${event.action === 'resume' ? 'resume from checkpoint' : 'from scratch'})`);
          return;
        }
        done += 1;
        const o = event.outcome;
        const tag = `[${done}/${total}]`;
        if (event.type === 'skip') console.log(`${tag} skip   ${o.id}: finished earlier`);
        else if (o.state === 'finished') console.log(`${tag} done   ${o.id}: finished at env step ${o.envStep ?? '?'} in ${formatDuration(o.processSeconds)}`);
        else console.log(`${tag} ${o.state.padEnd(6)} ${o.id}: ${o.reason ?? ''} (log: ${o.log})`);
      };
      try {
        const index = await runSweep(sweep, { parallel, signal: controller.signal, onEvent, sweepFile: path });
        const counts = Object.entries(index.counts).map(([state, n]) => `${n} ${state}`).join(', ');
        console.log(`sweep ${sweep.name}: ${counts}. Index: ${indexPath(sweep)}`);
        const unfinished = index.runs.filter((r) => r.state !== 'finished').length;
        if (stopSignal !== undefined) throw new SweepIncompleteError(`sweep stopped by ${stopSignal}; ${unfinished} run(s) not finished`, stopSignal === 'SIGINT' ? 130 : 143);
        if (unfinished > 0) throw new SweepIncompleteError(`${unfinished} of ${total} run(s) did not finish; see ${indexPath(sweep)} for the reasons`, 1);
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}
