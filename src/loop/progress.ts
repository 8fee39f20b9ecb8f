import cliProgress from 'cli-progress';
import { filter, type Observable, type Subscription } from 'rxjs';
import type { LoopEvent } from './trainer.js';

/**
 * Console progress: a live bar on a terminal, plain periodic lines otherwise
 * (logs of headless runs stay readable). Purely an observer of the loop.
 */
export interface ProgressOptions {
  totalEnvSteps: number;
  startEnvStep: number;
  mode: 'tty' | 'plain' | 'none';
  write?: (line: string) => void;
}

function fmt(value: number | undefined, digits = 1): string {
  return value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits);
}

export function attachProgress(events$: Observable<LoopEvent>, options: ProgressOptions): Subscription {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  let lastEval = '-';
  let envStepsPerSec = 0;
  let updatesPerSec = 0;
  if (options.mode === 'none') return events$.subscribe();
  if (options.mode === 'plain') {
    return events$.subscribe((event) => {
      if (event.type === 'train') {
        const r = event.record;
        const eta = r.envStepsPerSec > 0 ? (options.totalEnvSteps - r.envStep) / r.envStepsPerSec : NaN;
        const loss = typeof r.criticLoss === 'number' ? ` critic_loss ${fmt(r.criticLoss, 4)}` : '';
        write(
          `[train] env step ${r.envStep}/${options.totalEnvSteps} (agent ${r.agentStep}) | ${fmt(r.envStepsPerSec)} env steps/s | ${fmt(r.updatesPerSec, 2)} updates/s${loss} | ETA ${Number.isFinite(eta) ? `${Math.round(eta)}s` : '-'}`,
        );
      } else if (event.type === 'eval') {
        const r = event.record;
        write(`[eval] env step ${r.envStep}: return ${fmt(r.mean)} ± ${fmt(r.std)} over ${r.returns.length} episodes`);
      } else if (event.type === 'checkpoint') {
        write(`[checkpoint] ${event.record.path} (${event.record.reason})`);
      } else if (event.type === 'restart') {
        write(`[restart] environment restarted (${event.record.restarts}): ${event.record.error}`);
      }
    });
  }
  const bar = new cliProgress.SingleBar(
    {
      format: 'env steps {value}/{total} |{bar}| {percentage}% | {fps} env steps/s | {ups} updates/s | eval {evalReturn} | ETA {eta_formatted}',
      hideCursor: true,
      etaBuffer: 200,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(options.totalEnvSteps, options.startEnvStep, { fps: '-', ups: '-', evalReturn: '-' });
  const subscription = events$.pipe(filter((e) => e.type !== 'update')).subscribe({
    next: (event) => {
      if (event.type === 'transition') bar.update(event.envStep, { fps: fmt(envStepsPerSec), ups: fmt(updatesPerSec, 2), evalReturn: lastEval });
      else if (event.type === 'train') {
        envStepsPerSec = event.record.envStepsPerSec;
        updatesPerSec = event.record.updatesPerSec;
      } else if (event.type === 'eval') {
        lastEval = `${fmt(event.record.mean)}±${fmt(event.record.std)}`;
        bar.update({ evalReturn: lastEval });
      }
    },
    complete: () => bar.stop(),
  });
  subscription.add(() => bar.stop());
  return subscription;
}
