// The triplet loss (Schroff, Kalenichenko & Philbin 2015, FaceNet) with
// FaceNet's semi-hard negatives mined in the batch: on L2-normalised latents
// (FaceNet's unit sphere, so its alpha = 0.2 carries over), anchors the online
// anchor pass, positives the momentum encoder on the positive crop, negatives
// the other rows' positives (triplet-objective.ts).
import { z } from 'zod';
import { defineAuxObjective, encoderFlops, optionalAuxOption } from './descriptor.js';
import { pairwiseFlops, metricNeeds } from './margin.js';

export const triplet = defineAuxObjective({
  name: 'triplet',
  summary: 'FaceNet, semi-hard negatives',
  options: {
    // squared distances on the unit sphere lie in [0, 4]: a larger alpha would keep every triplet active
    auxAlpha: optionalAuxOption(z.number().nonnegative().max(4), 'margin alpha in squared distance on the unit sphere', 0.2),
  },
  needs: metricNeeds,
  metrics: ['auxLoss', 'auxAccuracy', 'auxSemiHard', 'auxGradNorm'],
  report: { rank: 8, color: '#637939' },
  paramCount: () => 0,
  flops: ({ latentDim, batch, rows, row }) => {
    const encoder = encoderFlops(metricNeeds, rows, row);
    return { conv: encoder.conv, dense: encoder.dense + pairwiseFlops(batch, batch, latentDim) };
  },
  load: () => import('./triplet-objective.js'),
});
