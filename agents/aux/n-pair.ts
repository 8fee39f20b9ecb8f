// The multi-class N-pair loss (Sohn 2016): a projection MLP `npair.*`
// (unnormalised embeddings, as the paper) of the online anchor latents f and
// of the momentum encoder's positive-crop latents f+; each row's positive
// against the other rows' positives, log(1 + sum_j exp(f.f_j+ - f.f+)), plus
// Sohn's L2 regularisation of the embeddings (n-pair-objective.ts).
import { z } from 'zod';
import { defineAuxObjective, encoderFlops, optionalAuxOption } from './descriptor.js';
import { pairwiseFlops, metricNeeds } from './margin.js';
import { projectionFlops, projectionOptions, projectionParams } from './two-view.js';

export const nPair = defineAuxObjective({
  name: 'n-pair',
  summary: 'multi-class N-pair loss',
  options: {
    // TensorFlow's npairs_loss default (reg_lambda)
    auxL2Reg: optionalAuxOption(z.number().nonnegative().max(1e3), 'weight lambda of the embeddings\' L2 regularisation, lambda/4 (mean ||f||^2 + mean ||f+||^2)', 0.002),
    ...projectionOptions,
  },
  needs: metricNeeds,
  metrics: ['auxLoss', 'auxAccuracy', 'auxGradNorm'],
  report: { rank: 10, color: '#e7ba52' },
  paramCount: ({ latentDim, options }) => projectionParams(latentDim, options),
  // the head over 2b rows (3x forward) and the b x b products of D-dim rows (3x forward)
  flops: ({ latentDim, options, batch, rows, row }) => {
    const encoder = encoderFlops(metricNeeds, rows, row);
    const loss = 3 * 2 * batch * projectionFlops(latentDim, options) + pairwiseFlops(batch, batch, options.auxProjDim);
    return { conv: encoder.conv, dense: encoder.dense + loss };
  },
  load: () => import('./n-pair-objective.js'),
});
