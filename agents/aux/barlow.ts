// Barlow Twins (Zbontar et al. 2021): both crops through the online encoder
// and a projector `barlow.*`; the loss drives the cross-correlation of the two
// views' batch-normalised projections to the identity (barlow-objective.ts).
//
// Scaling of lambda (`--aux-lambda`, default 5e-3): the paper tuned 5e-3 at
// D = 8192 and gives no rule for other sizes. The off-diagonal sum has D(D-1)
// terms against D on the diagonal, so we keep lambda * D fixed:
// lambdaEff = lambda * 8192 / D (at D = 128, 5e-3 -> 0.32). `--aux-lambda` is
// thus always "lambda as at the paper's size".
import { z } from 'zod';
import { defineAuxObjective, encoderFlops, optionalAuxOption } from './descriptor.js';
import { projectionFlops, projectionOptions, projectionParams } from './two-view.js';

/** The projection size the Barlow Twins paper tuned lambda = 5e-3 at (barlow-objective.ts scales lambda by it). */
const BARLOW_PAPER_DIM = 8192;

export const barlowNeeds = { onlinePos: true, targetPos: false, targetObs: false } as const;

export const barlow = defineAuxObjective({
  name: 'barlow',
  summary: 'Barlow Twins',
  options: {
    ...projectionOptions,
    auxLambda: optionalAuxOption(
      z.number().nonnegative().max(1e3),
      `off-diagonal weight as at the paper's ${BARLOW_PAPER_DIM}-d projection, rescaled by ${BARLOW_PAPER_DIM} / --aux-proj-dim`,
      5e-3,
    ),
  },
  needs: barlowNeeds,
  metrics: ['auxLoss', 'auxOnDiag', 'auxOffDiag', 'auxAlignment', 'auxUniformity', 'auxGradNorm'],
  report: { rank: 6, color: '#17becf' },
  paramCount: ({ latentDim, options }) => projectionParams(latentDim, options),
  // the projection over both views' 2b rows and the D x D cross-correlation over b rows, each 3x forward
  flops: ({ latentDim, options, batch, rows, row }) => {
    const encoder = encoderFlops(barlowNeeds, rows, row);
    const loss = 3 * 2 * batch * projectionFlops(latentDim, options) + 3 * 2 * batch * options.auxProjDim * options.auxProjDim;
    return { conv: encoder.conv, dense: encoder.dense + loss };
  },
  load: () => import('./barlow-objective.js'),
});
