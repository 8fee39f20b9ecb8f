// The contrastive loss with a margin (Chopra, Hadsell & LeCun 2005, in the
// squared-hinge form of Hadsell, Chopra & LeCun 2006): on L2-normalised
// latents, queries the online anchor pass and keys the momentum encoder on the
// positive crop (as CURL), each row's positive pair is pulled together
// (d^2) and its in-batch negatives pushed out to a margin m
// (max(0, m - d)^2) (margin-objective.ts).
import { z } from 'zod';
import { defineAuxObjective, encoderFlops, optionalAuxOption } from './descriptor.js';
import { curlNeeds } from './curl.js';

/**
 * A margin in Euclidean distance between embeddings (the contrastive loss's m, the lifted
 * structured loss's alpha). 1 for both: on the unit sphere (margin) it pushes out the negatives
 * with cos > 0.5 (random 50-d unit vectors lie about sqrt 2 apart); Song et al. use 1.
 */
export const distanceMargin = optionalAuxOption(z.number().positive().max(1e3), 'margin in Euclidean distance between embeddings', 1);

/** Queries: the anchor pass; keys: the momentum encoder on the positive crop, as CURL. */
export const metricNeeds = curlNeeds;

/** A rows x cols matrix of distances or products of D-dim rows, forward and backward (3x): the metric losses' cost beyond their heads. */
export function pairwiseFlops(rows: number, cols: number, dim: number): number {
  return 3 * 2 * rows * cols * dim;
}

export const margin = defineAuxObjective({
  name: 'margin',
  summary: 'contrastive loss with a margin',
  options: { auxMargin: distanceMargin },
  needs: metricNeeds,
  metrics: ['auxLoss', 'auxAccuracy', 'auxGradNorm'],
  report: { rank: 7, color: '#393b79' },
  paramCount: () => 0,
  flops: ({ latentDim, batch, rows, row }) => {
    const encoder = encoderFlops(metricNeeds, rows, row);
    return { conv: encoder.conv, dense: encoder.dense + pairwiseFlops(batch, batch, latentDim) };
  },
  load: () => import('./margin-objective.js'),
});
