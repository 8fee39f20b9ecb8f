// The random draws an objective makes while it trains (MoCHi's mixes, the
// memory bank's negatives): its own stream, seeded from the agent's init
// stream when it is built, and saved in the checkpoint as `<prefix>.rng`, so
// that a resumed run draws what one that never stopped would have drawn.
import { Rng } from '../../src/core/rng.js';
import { AgentError } from '../types.js';
import type { TensorRecord } from '../tensor-record.js';

/** ARC4's i, j and the 256 entries of S: integers 0..255, exact in float32. */
const STATE_SIZE = 258;

export class ObjectiveDraws {
  private rng: Rng;

  constructor(seed: number, private readonly prefix: string) {
    this.rng = new Rng(`${prefix}:${seed}`);
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.rng.uniform();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return this.rng.int(n);
  }

  getState(): Record<string, TensorRecord> {
    // only uniform() and int() are drawn: the Box-Muller spare is always null
    const { prng } = this.rng.getState();
    return { [`${this.prefix}.rng`]: { shape: [STATE_SIZE], data: Float32Array.from([prng.i, prng.j, ...prng.S]) } };
  }

  checkState(state: Record<string, TensorRecord> | undefined): void {
    const rec = state?.[`${this.prefix}.rng`];
    if (!rec) throw new AgentError(`setState: the state has no ${this.prefix}.rng (the objective's random stream)`);
    const problem = rec.data.length === STATE_SIZE ? Rng.stateProblem(this.decode(rec)) : `has ${rec.data.length} values, expected ${STATE_SIZE}`;
    if (problem) throw new AgentError(`setState: ${this.prefix}.rng ${problem}`);
  }

  /** Loads a state checkState accepted (call it first). */
  setState(state: Record<string, TensorRecord> | undefined): void {
    this.rng = Rng.fromState(this.decode(state![`${this.prefix}.rng`]!));
  }

  private decode(rec: TensorRecord): ReturnType<Rng['getState']> {
    const d = Array.from(rec.data);
    return { prng: { i: d[0]!, j: d[1]!, S: d.slice(2) }, spareNormal: null };
  }
}
