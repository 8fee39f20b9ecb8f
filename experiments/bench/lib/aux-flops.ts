// Not a benchmark: the FLOP count of the aux objectives that bench update uses (benchmarks are the .ts files directly in experiments/bench/).
import type { AgentConfig } from '../../../agents/index.js';
import { auxDefaults } from '../../../src/config/schema.js';

/** What one row of the encoder costs, from updateFlops: conv stack forward, its backward, one dense head. */
export interface EncoderRowFlops {
  readonly convFwd: number;
  readonly convBwd: number;
  readonly head: number;
}

/**
 * FLOPs (2 x multiply-adds of matrix products and convs; elementwise ops,
 * LayerNorm, batch norm, the metrics and Adam ignored) that the aux objective
 * adds to one update of batch b, by what agents/curl-sac.ts runs:
 *
 * - CURL family: keys = the momentum encoder on the positive crop (conv fwd +
 *   head), the backward of the query head and convs (the anchor's forward is
 *   the critic's), logits z_a W [keys, queue]^T with K = b + queue columns
 *   (W k: 2 L^2 K, queries: 2 b L K; backward about twice that; debiasing and
 *   reweighting are elementwise).
 * - SimCLR, Barlow: the positive crop through the online encoder twice (a
 *   plain forward for the loss, then again as the kept anchor for its
 *   backward), two head + conv backwards; the projection MLP over 2b rows
 *   (forward + input and weight gradients = 3x forward); SimCLR's 2b x 2b
 *   similarity matrix, Barlow's D x D cross-correlation, each 3x forward.
 * - BYOL: as SimCLR's encoder passes plus the momentum encoder on both crops;
 *   online projector + predictor over 2b rows (3x forward), target projector
 *   over 2b rows (forward only).
 */
export function auxFlops(cfg: AgentConfig, b: number, row: EncoderRowFlops): { conv: number; dense: number } {
  const L = cfg.latentDim;
  const H = cfg.auxHiddenDim ?? auxDefaults.hiddenDim;
  const D = cfg.auxProjDim ?? auxDefaults.projDim;
  const mlp2 = (n: number) => 2 * (n * H + H * D);
  const { convFwd, convBwd, head } = row;
  // the second online view: fwd for the loss, fwd again kept as the anchor, and two backwards in all
  const twoViews = { conv: b * (2 * convFwd + 2 * convBwd), dense: b * (2 * head + 2 * 2 * head) };
  switch (cfg.aux) {
    case 'none':
      return { conv: 0, dense: 0 };
    case 'curl':
    case 'curl-debiased':
    case 'curl-hard': {
      const K = b + (cfg.auxQueue ?? 0);
      const logitsFwd = 2 * L * L * K + 2 * b * L * K;
      return { conv: b * (convFwd + convBwd), dense: b * (head + 2 * head) + 3 * logitsFwd };
    }
    case 'simclr':
      return { conv: twoViews.conv, dense: twoViews.dense + 3 * 2 * b * mlp2(L) + 3 * 2 * (2 * b) ** 2 * D };
    case 'barlow':
      return { conv: twoViews.conv, dense: twoViews.dense + 3 * 2 * b * mlp2(L) + 3 * 2 * b * D * D };
    case 'byol':
      return {
        conv: twoViews.conv + 2 * b * convFwd,
        dense: twoViews.dense + 2 * b * head + 3 * 2 * b * (mlp2(L) + mlp2(D)) + 2 * b * mlp2(L),
      };
  }
}
