/*
 * Console progress: a live bar on a terminal, plain periodic lines otherwise
 * (logs of headless runs stay readable). Purely an observer of the loop.
 */
import cliProgress from 'cli-progress';
import { Subscription } from 'rxjs';
import type { LoopStreams } from './streams.js';

export interface ProgressOptions {
  totalEnvSteps: number;
  startEnvStep: number;
  mode: 'tty' | 'plain' | 'none';
  /** Agent steps of random actions (no updates), for an ETA that knows the update phase costs more. */
  initAgentSteps?: number;
  actionRepeat?: number;
  write?: (line: string) => void;
}

function fmt(value: number | undefined, digits = 1): string {
  return value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits);
}

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Live rates and an ETA from the loop's own events. Steps before updates begin
 * cost a fraction of those after, so each kind is timed separately (the median
 * of recent steps, which an evaluation does not throw off) and the ETA adds
 * the remaining steps of each kind at their own cost. Before the first update
 * its cost is unknown, and the ETA says so instead of guessing low.
 */
export class ProgressEstimator {
  private readonly totalEnvSteps: number;
  private readonly actionRepeat: number;
  private readonly randomUntil: number;
  private readonly windowSeconds: number;
  private readonly durations = { random: [] as number[], update: [] as number[] };
  private readonly samples: Array<{ t: number; envStep: number; updates: number }> = [];
  private last: { t: number; updated: boolean } | null = null;
  private updates = 0;
  private agentStep = 0;
  private envStep: number;

  constructor(options: { totalEnvSteps: number; startEnvStep: number; actionRepeat: number; randomUntil: number; windowSeconds?: number }) {
    this.totalEnvSteps = options.totalEnvSteps;
    this.actionRepeat = options.actionRepeat;
    this.randomUntil = options.randomUntil;
    this.windowSeconds = options.windowSeconds ?? 30;
    this.envStep = options.startEnvStep;
    this.agentStep = Math.floor(options.startEnvStep / options.actionRepeat);
  }

  /** A transition happened at time t (seconds). */
  step(agentStep: number, envStep: number, t: number): void {
    if (this.last) {
      const kind = this.last.updated ? 'update' : 'random';
      const list = this.durations[kind];
      list.push(t - this.last.t);
      if (list.length > 50) list.shift();
    }
    this.last = { t, updated: false };
    this.agentStep = agentStep;
    this.envStep = envStep;
    this.samples.push({ t, envStep, updates: this.updates });
    while (this.samples.length > 2 && t - this.samples[0]!.t > this.windowSeconds) this.samples.shift();
  }

  /** The step just reported also ran an update. */
  update(): void {
    this.updates += 1;
    if (this.last) this.last.updated = true;
    const newest = this.samples[this.samples.length - 1];
    if (newest) newest.updates = this.updates;
  }

  private rate(of: 'envStep' | 'updates'): number | undefined {
    const first = this.samples[0];
    const newest = this.samples[this.samples.length - 1];
    if (!first || !newest || newest.t <= first.t) return undefined;
    return (newest[of] - first[of]) / (newest.t - first.t);
  }

  get envStepsPerSec(): number | undefined {
    return this.rate('envStep');
  }

  get updatesPerSec(): number | undefined {
    return this.rate('updates');
  }

  /** Seconds left, or undefined while a phase still ahead has not been timed. */
  eta(): number | undefined {
    const left = Math.max(0, Math.ceil((this.totalEnvSteps - this.envStep) / this.actionRepeat));
    if (left === 0) return 0;
    const randomLeft = Math.min(left, Math.max(0, this.randomUntil - this.agentStep));
    const updateLeft = left - randomLeft;
    const perRandom = median(this.durations.random);
    const perUpdate = median(this.durations.update);
    if ((randomLeft > 0 && perRandom === undefined) || (updateLeft > 0 && perUpdate === undefined)) return undefined;
    return randomLeft * (perRandom ?? 0) + updateLeft * (perUpdate ?? 0);
  }

  etaText(): string {
    const eta = this.eta();
    if (eta !== undefined) return formatDuration(eta);
    return this.agentStep < this.randomUntil ? '- (timed once updates begin)' : '-';
  }
}

export function attachProgress(streams: LoopStreams, options: ProgressOptions): Subscription {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const subscription = new Subscription();
  if (options.mode === 'none') return subscription;
  const estimator = new ProgressEstimator({
    totalEnvSteps: options.totalEnvSteps,
    startEnvStep: options.startEnvStep,
    actionRepeat: options.actionRepeat ?? 1,
    randomUntil: options.initAgentSteps ?? 0,
  });
  const now = (): number => performance.now() / 1000;
  subscription.add(streams.transitions$.subscribe((e) => estimator.step(e.agentStep, e.envStep, now())));
  subscription.add(streams.updates$.subscribe(() => estimator.update()));
  if (options.mode === 'plain') {
    subscription.add(
      streams.train$.subscribe((r) => {
        const loss = typeof r.criticLoss === 'number' ? ` critic_loss ${fmt(r.criticLoss, 4)}` : '';
        write(
          `[train] env step ${r.envStep}/${options.totalEnvSteps} (agent ${r.agentStep}) | ${fmt(r.envStepsPerSec)} env steps/s | ${fmt(r.updatesPerSec, 2)} updates/s${loss} | ETA ${estimator.etaText()}`,
        );
      }),
    );
    subscription.add(streams.evals$.subscribe((r) => write(`[eval] env step ${r.envStep}: return ${fmt(r.mean)} ± ${fmt(r.std)}${r.returns ? ` over ${r.returns.length} episodes` : ''}`)));
    subscription.add(streams.checkpoints$.subscribe((r) => write(`[checkpoint] ${r.path} (${r.reason})`)));
    subscription.add(streams.restarts$.subscribe((r) => write(`[restart] environment restarted (${r.restarts}): ${r.error}`)));
    return subscription;
  }
  let lastEval = '-';
  const bar = new cliProgress.SingleBar(
    {
      format: 'env steps {value}/{total} |{bar}| {percentage}% | {fps} env steps/s | {ups} updates/s | eval {evalReturn} | ETA {etaText}',
      hideCursor: true,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  const payload = () => ({ fps: fmt(estimator.envStepsPerSec), ups: fmt(estimator.updatesPerSec, 2), evalReturn: lastEval, etaText: estimator.etaText() });
  bar.start(options.totalEnvSteps, options.startEnvStep, payload());
  subscription.add(streams.transitions$.subscribe((e) => bar.update(e.envStep, payload())));
  subscription.add(
    streams.evals$.subscribe((r) => {
      lastEval = `${fmt(r.mean)}±${fmt(r.std)}`;
      bar.update(payload());
    }),
  );
  subscription.add(() => bar.stop());
  return subscription;
}
