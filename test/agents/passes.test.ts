import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { EncoderPasses } from '../../agents/tower/passes.js';
import type { DenseParams, EncoderTrunk, TrunkGrads, TrunkSlot } from '../../agents/tower/trunk.js';
import type { ConvParams } from '../../agents/networks.js';
import { useBackend } from './helpers.js';

/** A trunk that records what it is asked and answers with tensors of the right shapes. */
class RecordingTrunk implements EncoderTrunk {
  readonly engine = 'tfjs' as const;
  readonly precision = 'fp32' as const;
  readonly shards = 1;
  readonly threads = 1;
  readonly loads: Array<{ keys: string[]; rows: number; pos?: Uint8Array }> = [];
  readonly backwardRows: number[] = [];
  readonly backwardSums: number[] = [];
  private rows = 0;
  released = 0;
  async load(images: Partial<Record<string, Uint8Array>>, rows: number): Promise<void> {
    this.rows = rows;
    this.loads.push({ keys: Object.keys(images), rows, ...(images['pos'] ? { pos: images['pos'].slice() } : {}) });
  }
  async forward(_key: string, _conv: ConvParams, heads: readonly DenseParams[], _keep?: TrunkSlot): Promise<tf.Tensor2D[]> {
    return heads.map((_, i) => tf.fill([this.rows, 2], i + 1) as tf.Tensor2D);
  }
  async backward(_slot: TrunkSlot, _conv: ConvParams, _head: DenseParams, dOut: tf.Tensor2D): Promise<TrunkGrads> {
    this.backwardRows.push(dOut.shape[0]);
    this.backwardSums.push(tf.sum(dOut).dataSync()[0]!);
    return { head: { w: tf.zeros([1, 2]), b: tf.zeros([2]) } };
  }
  async release(): Promise<void> {
    this.released += 1;
  }
  dispose(): void {}
}

const conv: ConvParams = { w: [], b: [] };
const head = (): DenseParams => ({ w: tf.zeros([1, 2]), b: tf.zeros([2]) });

describe('EncoderPasses', () => {
  beforeAll(() => useBackend('cpu'));

  it('loads all three image sets at once with one view each', async () => {
    const trunk = new RecordingTrunk();
    const passes = new EncoderPasses(trunk);
    const obs = new Uint8Array(6);
    await passes.begin({ obs, next: obs, pos: obs, rows: 3, nextViews: 1, obsViews: 1 });
    await passes.loadObs();
    expect(trunk.loads.map((l) => [l.keys, l.rows])).toEqual([[['obs', 'next', 'pos'], 3]]);
    await passes.finish();
  });

  it('with DrQ views loads K next views, then M obs views beside the positive repeated M times', async () => {
    const trunk = new RecordingTrunk();
    const passes = new EncoderPasses(trunk);
    const pos = Uint8Array.from([1, 2, 3, 4]);
    await passes.begin({ obs: new Uint8Array(12), next: new Uint8Array(8), pos, rows: 2, nextViews: 2, obsViews: 3 });
    expect(trunk.loads.map((l) => [l.keys, l.rows])).toEqual([[['next'], 4]]);
    await passes.loadObs();
    expect(trunk.loads.map((l) => [l.keys, l.rows])).toEqual([[['next'], 4], [['obs', 'pos'], 6]]);
    expect([...trunk.loads[1]!.pos!]).toEqual([1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]);
    await passes.finish();
  });

  it('gives the rows past view 0 a zero gradient, and disposes the gradient it was handed', async () => {
    const trunk = new RecordingTrunk();
    const passes = new EncoderPasses(trunk);
    await passes.begin({ obs: new Uint8Array(6), next: new Uint8Array(3), pos: null, rows: 1, nextViews: 1, obsViews: 2 });
    await passes.loadObs();
    const du = tf.ones([1, 2]) as tf.Tensor2D;
    const g = await passes.backward('anchor', conv, head(), du);
    expect(trunk.backwardRows).toEqual([2]);
    expect(trunk.backwardSums).toEqual([2]);
    expect(du.isDisposed).toBe(true);
    tf.dispose([g.head.w, g.head.b]);
    const [u] = await passes.forward('obs', conv, [head()]);
    const [view0] = passes.firstView([u!]);
    expect(view0!.shape).toEqual([1, 2]);
    tf.dispose([u!, view0!]);
    await passes.finish();
  });

  it('disposes the outputs of passes started and never awaited when the update ends', async () => {
    const trunk = new RecordingTrunk();
    const passes = new EncoderPasses(trunk);
    await passes.begin({ obs: new Uint8Array(3), next: new Uint8Array(3), pos: null, rows: 1, nextViews: 1, obsViews: 1 });
    const before = tf.memory().numTensors;
    void passes.start('obs', conv, [head(), head()]);
    await passes.finish();
    // the two heads' weights and biases made by head() remain; the pass's two outputs are gone
    expect(tf.memory().numTensors - before).toBe(4);
    expect(trunk.released).toBe(1);
    expect(() => passes.firstView([])).toThrow(/no update in progress/);
  });
});
