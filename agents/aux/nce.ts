// Noise-contrastive estimation (Gutmann & Hyvarinen 2010) of CURL's bilinear
// score: the positive key (momentum encoder on the positive crop) classified
// against k noise keys by logistic regression, G = z_a W z_k + c - log(k q),
// the noise drawn uniformly (q = 1 / pool) from CURL's negatives, the other
// rows' keys and the --aux-queue keys (nce-objective.ts).
import { z } from 'zod';
import { keyQueueBytes, queue } from './curl.js';
import { defineAuxObjective, encoderFlops, optionalAuxOption } from './descriptor.js';
import { metricNeeds } from './margin.js';

export const nce = defineAuxObjective({
  name: 'nce',
  summary: 'noise-contrastive estimation',
  options: {
    auxQueue: queue,
    auxNoiseSamples: optionalAuxOption(z.number().int().positive().max(65_536), 'noise samples k per positive, drawn with replacement from the other keys and the queue', 128),
  },
  needs: metricNeeds,
  metrics: ['auxLoss', 'auxAccuracy', 'auxGradNorm'],
  report: { rank: 11, color: '#843c39' },
  // W [L, L] and the log-normaliser c
  paramCount: ({ latentDim }) => latentDim * latentDim + 1,
  stateBytes: keyQueueBytes,
  // as CURL's logits over K = b + queue columns (3x forward); the logistic terms are elementwise
  flops: ({ latentDim: L, options, batch, rows, row }) => {
    const K = batch + options.auxQueue;
    const encoder = encoderFlops(metricNeeds, rows, row);
    return { conv: encoder.conv, dense: encoder.dense + 3 * (2 * L * L * K + 2 * batch * L * K) };
  },
  load: () => import('./nce-objective.js'),
});
