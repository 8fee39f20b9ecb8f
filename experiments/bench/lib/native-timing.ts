/*
 * Where an update's time goes below its stages: every call into the libtorch
 * addon (the conv engine's passes, the head kernels' MLPs, Adam and EMA) timed
 * from the JS side, as intervals. The conv passes are asynchronous and run on
 * libtorch's threads while the JS thread goes on (tfjs losses, host copies),
 * so a stage's time splits into the part with a native call in flight and the
 * part without one (the JS thread alone: tfjs ops, copies between tfjs and the
 * engine, glue). Used by `bench update --breakdown`.
 */
import { loadConvAddon } from '../../../agents/native/addon.js';

type Interval = readonly [start: number, end: number];

export interface CallTotals {
  calls: number;
  /** call to return, or to settle for an asynchronous call */
  ms: number;
}

/** Length of the union of `intervals` clipped to [from, to]. */
export function unionWithin(intervals: readonly Interval[], from: number, to: number): number {
  const clipped = intervals
    .map(([s, e]) => [Math.max(s, from), Math.min(e, to)] as const)
    .filter(([s, e]) => e > s)
    .sort((a, b) => a[0] - b[0]);
  let total = 0;
  let [cs, ce] = [Number.NaN, Number.NaN];
  for (const [s, e] of clipped) {
    if (!(s <= ce)) {
      if (ce > cs) total += ce - cs;
      [cs, ce] = [s, e];
    } else if (e > ce) {
      ce = e;
    }
  }
  if (ce > cs) total += ce - cs;
  return total;
}

export class NativeCallTimer {
  private intervals: Interval[] = [];
  private totals = new Map<string, CallTotals>();

  /** Forgets what was recorded (between updates). */
  reset(): void {
    this.intervals = [];
    this.totals = new Map();
  }

  record(name: string, start: number, end: number): void {
    this.intervals.push([start, end]);
    const t = this.totals.get(name) ?? { calls: 0, ms: 0 };
    t.calls += 1;
    t.ms += end - start;
    this.totals.set(name, t);
  }

  byMethod(): Record<string, CallTotals> {
    return Object.fromEntries(this.totals);
  }

  /** Milliseconds within [from, to] with at least one native call in flight. */
  nativeMs(from: number, to: number): number {
    return unionWithin(this.intervals, from, to);
  }

  /** Wraps `target` so that each method call is recorded as `${prefix}.${method}`; other properties read through. */
  wrap<T extends object>(target: T, prefix: string): T {
    const timer = this;
    return new Proxy(target, {
      get(obj, key) {
        const value = Reflect.get(obj, key, obj) as unknown;
        if (typeof value !== 'function' || typeof key !== 'string') return value;
        return (...args: unknown[]) => {
          const start = performance.now();
          const result = (value as (...a: unknown[]) => unknown).apply(obj, args);
          if (result instanceof Promise) {
            return result.finally(() => timer.record(`${prefix}.${key}`, start, performance.now()));
          }
          timer.record(`${prefix}.${key}`, start, performance.now());
          return result;
        };
      },
    });
  }
}

/**
 * Makes the addon's conv engines and head kernels, as the agent creates them
 * from here on, report every call to `timer`; returns the undo. Throws when
 * the addon is not loaded (nothing native to time).
 */
export function timeNativeCalls(timer: NativeCallTimer): () => void {
  const status = loadConvAddon();
  if (!status.available) throw new Error(`bench update --breakdown times the libtorch addon's calls: ${status.reason}`);
  const real = status.binding;
  const { ConvEngine, HeadKernels } = real;
  type EngineOptions = ConstructorParameters<typeof ConvEngine>[0];
  type HeadOptions = ConstructorParameters<typeof HeadKernels>[0];
  // a constructor that returns an object makes `new` give that object: the wrapped engine
  status.binding = {
    info: () => real.info(),
    ConvEngine: function (options: EngineOptions) {
      return timer.wrap(new ConvEngine(options), 'conv');
    } as unknown as typeof ConvEngine,
    HeadKernels: function (options: HeadOptions) {
      return timer.wrap(new HeadKernels(options), 'heads');
    } as unknown as typeof HeadKernels,
  };
  return () => {
    status.binding = real;
  };
}

export interface StageBreakdown {
  ms: number;
  /** with a native call in flight */
  nativeMs: number;
  /** the JS thread alone: tfjs ops, copies, glue */
  jsOnlyMs: number;
}

/**
 * Splits one update, started at `t0` and ended at `t1`, into its stages (the
 * agent's lastStageMs, in the order they ran, back to back from t0) plus
 * 'finish' (metrics read back, buffers released), each into native and JS-only time.
 */
export function stageBreakdown(timer: NativeCallTimer, t0: number, t1: number, stageMs: Record<string, number>): Record<string, StageBreakdown> {
  const out: Record<string, StageBreakdown> = {};
  let from = t0;
  const spans: Array<[string, number]> = [...Object.entries(stageMs), ['finish', Math.max(0, t1 - t0 - Object.values(stageMs).reduce((a, x) => a + x, 0))]];
  for (const [name, ms] of spans) {
    const to = from + ms;
    const nativeMs = timer.nativeMs(from, to);
    out[name] = { ms, nativeMs, jsOnlyMs: ms - nativeMs };
    from = to;
  }
  return out;
}
