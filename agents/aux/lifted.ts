// The lifted structured loss (Song, Xiang, Jegelka & Savarese 2015): a
// projection MLP `lifted.*` (unnormalised, as the paper's embedding layer)
// of the online anchor latents and of the momentum encoder's positive-crop
// latents; each positive pair against a log-sum-exp over the negatives of
// both its members, with a margin alpha in distance (lifted-objective.ts).
import { defineAuxObjective, encoderFlops } from './descriptor.js';
import { pairwiseFlops, distanceMargin, metricNeeds } from './margin.js';
import { projectionFlops, projectionOptions, projectionParams } from './two-view.js';

export const lifted = defineAuxObjective({
  name: 'lifted',
  summary: 'lifted structured loss',
  options: { auxMargin: distanceMargin, ...projectionOptions },
  needs: metricNeeds,
  metrics: ['auxLoss', 'auxAccuracy', 'auxGradNorm'],
  report: { rank: 9, color: '#7b4173' },
  paramCount: ({ latentDim, options }) => projectionParams(latentDim, options),
  // the head over 2b rows (3x forward) and the 2b x 2b distances of D-dim rows (3x forward)
  flops: ({ latentDim, options, batch, rows, row }) => {
    const encoder = encoderFlops(metricNeeds, rows, row);
    const loss = 3 * 2 * batch * projectionFlops(latentDim, options) + pairwiseFlops(2 * batch, 2 * batch, options.auxProjDim);
    return { conv: encoder.conv, dense: encoder.dense + loss };
  },
  load: () => import('./lifted-objective.js'),
});
