import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { ConfigError, CurlRlError } from '../../core/errors.js';
import { readStatus } from '../../../experiments/report/run-files.js';
import { defaultParallelism, indexPath, planRun, runSweep, type SweepEvent } from '../../../experiments/sweep/runner.js';
import { expandSweep, freshTrainArgs, loadSweepFile, resultsName, resumeTrainArgs, selectRuns, type RunSpec, type Sweep } from '../../../experiments/sweep/spec.js';
import { exportRun } from '../../../experiments/report/export-run.js';
import { processSpawner } from '../../../experiments/sweep/spawner.js';
import { checkpointCandidates } from '../../loop/checkpoint.js';
import { SlurmError } from '../../../experiments/sweep/slurm/commands.js';
import { indexFile, readSlurmIndex } from '../../../experiments/sweep/slurm/index-file.js';
import { defaultSignalSeconds, maxSignalSeconds, validateSlurmOptions, type SlurmOptions } from '../../../experiments/sweep/slurm/script.js';
import { MAX_COUNT } from '../../config/schema.js';
import { parseCount } from '../config-flags.js';
import { formatStatus, sweepStatus } from '../../../experiments/sweep/slurm/status.js';
import { activeJobs, cancelSweep, submitSweep, SweepBusyError } from '../../../experiments/sweep/slurm/submit.js';
import { runArrayTask } from '../../../experiments/sweep/slurm/task.js';
import { formatDuration } from '../../../experiments/report/markdown.js';
import { signalExitCode, stopSignals, type StopSignal } from '../../loop/shutdown.js';

/** The sweep ended with runs that did not finish; the index says which and why. */
export class SweepIncompleteError extends CurlRlError {
  override readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Counts in decimal digits only, as train's: Number() would also take 1e3, 0x10 and 2.5 as something else than what was typed. */
function positiveInt(flag: string, max: number = MAX_COUNT): (raw: string) => number {
  return (raw) => parseCount(`--${flag}`, raw, { min: 1, max });
}
const parseParallel = positiveInt('parallel');

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

type SweepOpts = {
  only?: string[];
  export?: string;
  probe?: boolean;
  parallel?: number;
  runsDir?: string;
  dryRun?: boolean;
  executor: 'local' | 'slurm';
  partition?: string;
  time?: string;
  cpusPerTask?: number;
  gpusPerTask?: number;
  maxConcurrent?: number;
  signalSeconds?: number;
  requeue: boolean;
  sbatchArg?: string[];
};

const slurmOnlyFlags: Array<[keyof SweepOpts, string]> = [
  ['partition', '--partition'], ['time', '--time'], ['cpusPerTask', '--cpus-per-task'], ['gpusPerTask', '--gpus-per-task'],
  ['maxConcurrent', '--max-concurrent'], ['signalSeconds', '--signal-seconds'],
];

function loadSweep(file: string, runsDir: string | undefined): { path: string; sweep: Sweep } {
  const path = resolve(file);
  const sweep = expandSweep(loadSweepFile(path), { baseDir: dirname(path), ...(runsDir !== undefined ? { runsDir } : {}) });
  return { path, sweep };
}

/** `--only a,b --only c`: run ids, checked against the sweep (an unknown id is exit 2 with the sweep's ids). */
function onlyIds(sweep: Sweep, only: string[] | undefined): ReadonlySet<string> | undefined {
  if (only === undefined) return undefined;
  const ids = only.flatMap((value) => value.split(',')).map((id) => id.trim()).filter((id) => id !== '');
  if (ids.length === 0) throw new ConfigError('--only needs run ids, e.g. --only cartpole-swingup-curl-s1 (`sweep FILE --dry-run` lists them).');
  return new Set(selectRuns(sweep, ids).runs.map((r) => r.id));
}

/** A probe.json older than the run's newest checkpoint describes another encoder. */
function needsProbe(runDir: string): boolean {
  const probe = join(runDir, 'probe.json');
  if (!existsSync(probe)) return true;
  const newest = checkpointCandidates(runDir)[0];
  return newest !== undefined && statSync(newest).mtimeMs > statSync(probe).mtimeMs;
}

/** `--probe`: the probe in a process of its own, as the trains are, its output appended to the run's log. */
async function probeFinished(run: RunSpec, logPath: string): Promise<void> {
  console.log(`       probing ${run.id} (log: ${logPath})`);
  const result = await processSpawner()({ run, args: ['probe', run.dir, '--out', join(run.dir, 'probe.json')], logPath, signal: new AbortController().signal });
  if (result.exitCode !== 0) throw new Error(`its probe failed (${result.spawnError ?? `exit code ${result.exitCode ?? result.signal}`}); see ${logPath}`);
}

/** `--export DIR`: a finished run's results go to DIR/<variant>-s<seed> (experiments/report/export-run.ts). */
function exportFinished(sweep: Sweep, run: RunSpec, dir: string): void {
  const result = exportRun(run.dir, join(dir, resultsName(sweep, run)));
  console.log(`       results of ${run.id} -> ${result.out}`);
}

function slurmOptions(opts: SweepOpts): SlurmOptions {
  if (opts.parallel !== undefined) throw new ConfigError('--parallel is for --executor local; with --executor slurm use --max-concurrent K (array tasks at once).');
  const options: SlurmOptions = {
    cpusPerTask: opts.cpusPerTask ?? 1,
    signalSeconds: opts.signalSeconds ?? defaultSignalSeconds,
    requeue: opts.requeue,
    sbatchArgs: opts.sbatchArg ?? [],
  };
  if (opts.partition !== undefined) options.partition = opts.partition;
  if (opts.time !== undefined) options.time = opts.time;
  if (opts.gpusPerTask !== undefined) options.gpusPerTask = opts.gpusPerTask;
  if (opts.maxConcurrent !== undefined) options.maxConcurrent = opts.maxConcurrent;
  return validateSlurmOptions(options);
}

async function submitToSlurm(path: string, sweep: Sweep, opts: SweepOpts, only: ReadonlySet<string> | undefined): Promise<void> {
  const result = await submitSweep(sweep, slurmOptions(opts), { dryRun: opts.dryRun ?? false, sweepFile: path, ...(only !== undefined ? { only } : {}) });
  if (result.taskIds.length === 0) {
    console.log(`sweep ${sweep.name}: all ${sweep.runs.length} runs have finished; nothing to submit.`);
    return;
  }
  if (opts.dryRun) {
    process.stdout.write(result.script ?? '');
    return;
  }
  console.log(`sweep ${sweep.name}: submitted Slurm job ${result.jobId}, ${result.taskIds.length} of ${sweep.runs.length} runs as array tasks (script ${result.scriptPath}).`);
  console.log(`follow it with: curl-rl sweep status ${path}${opts.runsDir !== undefined ? ` --runs-dir ${opts.runsDir}` : ''}`);
}

/** A local run of a sweep whose Slurm job is still active would run the same runs twice. */
async function refuseIfSubmitted(sweep: Sweep): Promise<void> {
  const index = readSlurmIndex(indexFile(sweep.dir));
  if (!index) return;
  let busy: Awaited<ReturnType<typeof activeJobs>>;
  try {
    busy = await activeJobs(index);
  } catch (error) {
    // No Slurm here (a copied sweep folder, say): nothing can be running it.
    if (error instanceof SlurmError) return;
    throw error;
  }
  if (busy.length > 0) {
    throw new SweepBusyError(
      `Sweep '${sweep.name}' has Slurm job ${busy.map((b) => b.jobId).join(', ')} still queued or running. ` +
        'Cancel it first (`curl-rl sweep cancel FILE`) or let it finish; a local run now would run the same runs twice.',
    );
  }
}

function printLocalStatus(sweep: Sweep, json: boolean): void {
  const rows = sweep.runs.map((run) => {
    const status = readStatus(run.dir);
    return { id: run.id, state: status?.state ?? 'not started', envStep: status?.envStep, reason: status?.reason };
  });
  if (json) {
    console.log(JSON.stringify({ name: sweep.name, executor: 'local', runs: rows }, null, 2));
    return;
  }
  console.log(`sweep ${sweep.name}: not submitted to Slurm; the runs' own status (local sweep index: ${indexPath(sweep)})`);
  for (const r of rows) console.log(`${r.id}  ${r.state}${r.envStep !== undefined ? `  env step ${r.envStep}` : ''}${r.reason ? `  ${r.reason}` : ''}`);
}

/** `runCli` runs a command line of this CLI in this process: `sweep task` trains its run through it. */
export function register(program: Command, runCli: (argv: string[]) => Promise<number>): void {
  // `sweep status FILE --runs-dir D` must give --runs-dir to `status`, not to `sweep` (which has one too):
  // commander only does that when every command above parses its options positionally.
  program.enablePositionalOptions();
  const sweepCommand = program
    .command('sweep')
    .description(
      'run every task x seed x variant run of a sweep file, as local child processes or as a Slurm job array; re-run to continue (finished runs are skipped, interrupted ones resumed)',
    )
    .argument('<file>', 'sweep file (JSON: name, tasks, seeds, aux or variants, preset?, overrides?, runsDir?)')
    .enablePositionalOptions()
    .addOption(new Option('--executor <name>', 'local: child processes on this machine; slurm: one sbatch job array').choices(['local', 'slurm']).default('local'))
    .addOption(new Option('--parallel <n>', `local: runs at once (default: from cores and free memory, here ${defaultParallelism()})`).argParser(parseParallel))
    .option('--runs-dir <dir>', "folder for the sweep's runs (default: the file's runsDir, else ./runs)")
    .option('--only <ids>', 'run only these runs of the sweep (run ids as --dry-run lists them, comma-separated or repeated); the others stay as they are', collect)
    .option('--export <dir>', "copy each finished run's results (no checkpoints) to <dir>/<variant>-s<seed> as it ends, ready to commit (see `curl-rl export`)")
    .option('--probe', "probe each finished run's encoder (`curl-rl probe RUN --out RUN/probe.json`, its log in the run's log) before its export; a run with a probe.json newer than its last checkpoint is not probed again")
    .option('--dry-run', 'print what would run (local: skip / resume / start with the train command; slurm: the sbatch script) and exit')
    .option('--partition <name>', 'slurm: partition to submit to (default: the cluster\'s default)')
    .option('--time <limit>', 'slurm: time limit per array task, e.g. 04:00:00 (default: the partition\'s)')
    .addOption(new Option('--cpus-per-task <n>', 'slurm: CPUs per run; the run uses n-1 conv workers (default 1)').argParser(positiveInt('cpus-per-task')))
    .addOption(new Option('--gpus-per-task <n>', 'slurm: GPUs per run (set backend tensorflow-gpu in the sweep overrides)').argParser(positiveInt('gpus-per-task')))
    .addOption(new Option('--max-concurrent <k>', 'slurm: array tasks running at once (the %K throttle; default: as many as Slurm allows)').argParser(positiveInt('max-concurrent')))
    .addOption(
      new Option('--signal-seconds <s>', `slurm: seconds before the time limit at which the run is told to checkpoint and stop (default ${defaultSignalSeconds})`).argParser(
        positiveInt('signal-seconds', maxSignalSeconds),
      ),
    )
    .option('--no-requeue', 'slurm: do not requeue tasks (after preemption, node failure or the time-limit warning)')
    .option('--sbatch-arg <arg>', 'slurm: extra sbatch option, one per flag, e.g. --sbatch-arg=--qos=high (repeatable)', collect)
    .action(async (file: string, opts: SweepOpts) => {
      const { path, sweep } = loadSweep(file, opts.runsDir);
      const only = onlyIds(sweep, opts.only);
      if (opts.executor === 'slurm') {
        if (opts.export !== undefined || opts.probe) {
          throw new ConfigError(`${opts.export !== undefined ? '--export' : '--probe'} is for --executor local (the runs end on the nodes); probe and export a finished run with \`curl-rl probe\` and \`curl-rl export\`.`);
        }
        await submitToSlurm(path, sweep, opts, only);
        return;
      }
      const given = slurmOnlyFlags.filter(([key]) => opts[key] !== undefined).map(([, flag]) => flag);
      if (!opts.requeue) given.push('--no-requeue');
      if (opts.sbatchArg !== undefined) given.push('--sbatch-arg');
      if (given.length > 0) throw new ConfigError(`${given.join(', ')} ${given.length === 1 ? 'applies' : 'apply'} only with --executor slurm; add --executor slurm, or drop ${given.length === 1 ? 'it' : 'them'}.`);
      const selected = only === undefined ? sweep.runs : sweep.runs.filter((r) => only.has(r.id));
      const total = selected.length;
      if (opts.dryRun) {
        console.log(`sweep ${sweep.name}: ${total} runs in ${sweep.dir}${only !== undefined ? ` (--only: ${total} of ${sweep.runs.length})` : ''}`);
        for (const run of selected) {
          const action = planRun(run);
          const args = action === 'skip' ? [] : action === 'resume' ? resumeTrainArgs(run) : freshTrainArgs(run);
          console.log(`${action.padEnd(6)} ${run.id}${args.length ? `  curl-rl ${args.join(' ')}` : ''}`);
        }
        return;
      }
      await refuseIfSubmitted(sweep);
      const parallel = opts.parallel ?? defaultParallelism();
      console.log(
        `sweep ${sweep.name}: ${total} runs${only !== undefined ? ` (--only; the sweep has ${sweep.runs.length})` : ''}, ${parallel} at a time, in ${sweep.dir} (logs in logs/, index in index.json)`,
      );
      const controller = new AbortController();
      let stopSignal: StopSignal | undefined;
      const stop = (signal: StopSignal): void => {
        if (controller.signal.aborted) {
          console.log(`${signal} again: still waiting for the running trains to write their checkpoints.`);
          return;
        }
        stopSignal = signal;
        console.log(`\n${signal}: no new runs; asking running trains to checkpoint and stop. Re-run the same command to continue.`);
        controller.abort();
      };
      for (const signal of stopSignals) process.on(signal, stop);
      let done = 0;
      const exportFailures: string[] = [];
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
      const afterFinished = async (run: RunSpec): Promise<void> => {
        try {
          if (opts.probe && needsProbe(run.dir)) await probeFinished(run, join(sweep.dir, 'logs', `${run.id}.log`));
          if (opts.export !== undefined) exportFinished(sweep, run, opts.export);
        } catch (error) {
          // the run itself is safe in its folder; `curl-rl probe` and `curl-rl export` can do this later
          exportFailures.push(`${run.id}: ${(error as Error).message}`);
          console.log(`       ${run.id}: ${(error as Error).message}`);
        }
      };
      try {
        const index = await runSweep(sweep, {
          parallel, signal: controller.signal, onEvent, sweepFile: path,
          ...(only !== undefined ? { only } : {}),
          ...(opts.export !== undefined || opts.probe ? { afterFinished } : {}),
        });
        const counts = Object.entries(index.counts).map(([state, n]) => `${n} ${state}`).join(', ');
        console.log(`sweep ${sweep.name}: ${counts}. Index: ${indexPath(sweep)}`);
        const unfinished = index.runs.filter((r) => r.state !== 'finished' && (only === undefined || only.has(r.id))).length;
        if (stopSignal !== undefined) throw new SweepIncompleteError(`sweep stopped by ${stopSignal}; ${unfinished} run(s) not finished`, signalExitCode(stopSignal));
        if (unfinished > 0) throw new SweepIncompleteError(`${unfinished} of ${total} run(s) did not finish; see ${indexPath(sweep)} for the reasons`, 1);
        if (exportFailures.length > 0) throw new SweepIncompleteError(`every run finished, but ${exportFailures.length} could not be probed or exported: ${exportFailures.join('; ')}`, 1);
      } finally {
        for (const signal of stopSignals) process.off(signal, stop);
      }
    });

  sweepCommand
    .command('status')
    .description("state of each run of a sweep: Slurm's view of its array task (squeue, and sacct when the cluster keeps accounting) merged with the run's status.json")
    .argument('<file>', 'sweep file')
    .option('--runs-dir <dir>', "folder for the sweep's runs (as given when submitting)")
    .option('--json', 'print JSON')
    .action(async (file: string, opts: { runsDir?: string; json?: boolean }) => {
      const { sweep } = loadSweep(file, opts.runsDir);
      const index = readSlurmIndex(indexFile(sweep.dir));
      if (!index) {
        printLocalStatus(sweep, opts.json ?? false);
        return;
      }
      const lines = await sweepStatus(index);
      if (opts.json) {
        const job = index.jobs[index.jobs.length - 1];
        console.log(JSON.stringify({ name: index.name, executor: 'slurm', jobId: job?.jobId ?? null, runs: lines }, null, 2));
      } else {
        console.log(formatStatus(index, lines));
      }
    });

  sweepCommand
    .command('cancel')
    .description("cancel the sweep's Slurm job array (running runs checkpoint on Slurm's SIGTERM; submit again to continue)")
    .argument('<file>', 'sweep file')
    .option('--runs-dir <dir>', "folder for the sweep's runs (as given when submitting)")
    .action(async (file: string, opts: { runsDir?: string }) => {
      const { sweep } = loadSweep(file, opts.runsDir);
      const index = readSlurmIndex(indexFile(sweep.dir));
      if (!index) throw new ConfigError(`Sweep '${sweep.name}' has no Slurm job (no Slurm index at ${indexFile(sweep.dir)}); a local sweep stops with Ctrl-C.`);
      const cancelled = await cancelSweep(index);
      console.log(cancelled.length > 0 ? `sweep ${sweep.name}: cancelled Slurm job ${cancelled.join(', ')}` : `sweep ${sweep.name}: no job of it is queued or running`);
    });

  sweepCommand
    .command('task', { hidden: true })
    .description('run by the sbatch script of `sweep --executor slurm`: starts or resumes the run of this array task')
    .argument('<index>', "the sweep's index.json")
    .option('--requeue-on-signal', "requeue the task when the run stopped on Slurm's time-limit warning")
    .action(async (index: string, opts: { requeueOnSignal?: boolean }) => {
      process.exitCode = await runArrayTask(resolve(index), { requeueOnSignal: opts.requeueOnSignal ?? false, train: runCli });
    });
}
