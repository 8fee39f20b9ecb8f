import cliProgress from 'cli-progress';
import { Subscription } from 'rxjs';
import type { LoopStreams } from './streams.js';

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

export function attachProgress(streams: LoopStreams, options: ProgressOptions): Subscription {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const subscription = new Subscription();
  if (options.mode === 'none') return subscription;
  if (options.mode === 'plain') {
    subscription.add(
      streams.train$.subscribe((r) => {
        const eta = r.envStepsPerSec > 0 ? (options.totalEnvSteps - r.envStep) / r.envStepsPerSec : NaN;
        const loss = typeof r.criticLoss === 'number' ? ` critic_loss ${fmt(r.criticLoss, 4)}` : '';
        write(
          `[train] env step ${r.envStep}/${options.totalEnvSteps} (agent ${r.agentStep}) | ${fmt(r.envStepsPerSec)} env steps/s | ${fmt(r.updatesPerSec, 2)} updates/s${loss} | ETA ${Number.isFinite(eta) ? `${Math.round(eta)}s` : '-'}`,
        );
      }),
    );
    subscription.add(streams.evals$.subscribe((r) => write(`[eval] env step ${r.envStep}: return ${fmt(r.mean)} ± ${fmt(r.std)} over ${r.returns.length} episodes`)));
    subscription.add(streams.checkpoints$.subscribe((r) => write(`[checkpoint] ${r.path} (${r.reason})`)));
    subscription.add(streams.restarts$.subscribe((r) => write(`[restart] environment restarted (${r.restarts}): ${r.error}`)));
    return subscription;
  }
  let lastEval = '-';
  let envStepsPerSec = 0;
  let updatesPerSec = 0;
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
  subscription.add(
    streams.transitions$.subscribe((e) => bar.update(e.envStep, { fps: fmt(envStepsPerSec), ups: fmt(updatesPerSec, 2), evalReturn: lastEval })),
  );
  subscription.add(
    streams.train$.subscribe((r) => {
      envStepsPerSec = r.envStepsPerSec;
      updatesPerSec = r.updatesPerSec;
    }),
  );
  subscription.add(
    streams.evals$.subscribe((r) => {
      lastEval = `${fmt(r.mean)}±${fmt(r.std)}`;
      bar.update({ evalReturn: lastEval });
    }),
  );
  subscription.add(() => bar.stop());
  return subscription;
}
