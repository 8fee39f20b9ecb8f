// The CURL family: the bilinear InfoNCE of CURL (Srinivas, Laskin & Abbeel
// 2020) and two replacements of its negative term, one implementation
// (curl-objective.ts) under three names that differ in the options they read:
//
// - 'curl': cross-entropy on the diagonal of the logits z_a W z_k^T.
// - 'curl-debiased' (Chuang et al. 2020, "Debiased Contrastive Learning"):
//   the debiased negative term with class prior tau+ (--aux-tau-plus).
// - 'curl-hard' (Robinson et al. 2021, "Contrastive Learning with Hard
//   Negative Samples"): negatives reweighted by concentration beta
//   (--aux-beta), debiased too when tau+ > 0.
// - each with a queue of K past keys as extra negatives (--aux-queue; MoCo,
//   He et al. 2020).
import { z } from 'zod';
import { defaultedAuxOption, defineAuxObjective, encoderFlops, optionalAuxOption, withDefault } from './descriptor.js';
import type { AuxDescriptor, AuxOptionSet, AuxSize, AuxStateBytes } from './descriptor.js';

/** Shared with NCE (nce.ts) and MoCHi (mochi.ts), which read the same key queue. */
export const queue = defaultedAuxOption(
  z.number().int().nonnegative().max(65_536),
  0,
  'MoCo-style queue of the last K momentum-encoder keys: extra negatives (NCE: extra noise keys; 0 = in-batch only)',
  'sets the queue of past momentum-encoder keys',
);
/** 0 (no debiasing) unless an objective says otherwise. */
const tauPlus = optionalAuxOption(z.number().min(0).lt(1), 'class prior tau+ of the debiased negative term', 0);
/** Robinson et al.'s concentration; 1 unless given. */
const beta = optionalAuxOption(z.number().nonnegative().max(100), 'concentration beta of the hard-negative weights, 0 = uniform', 1);

/** The key queue (key-queue.ts): K latents of float32, for the objectives that read --aux-queue. */
export function keyQueueBytes({ latentDim, options }: AuxSize<{ readonly auxQueue: number }>): AuxStateBytes {
  return { perReplaySlot: 0, fixed: 4 * options.auxQueue * latentDim };
}

/** Keys from the momentum encoder on the positive crop; queries are the anchor pass the critic already ran. */
export const curlNeeds = { onlinePos: false, targetPos: true, targetObs: false } as const;

function curlFamilyMember<const N extends string, O extends AuxOptionSet & { readonly auxQueue: typeof queue }>(
  name: N,
  options: O,
  report: AuxDescriptor['report'],
  summary?: string,
): AuxDescriptor<O> & { readonly name: N } {
  return defineAuxObjective({
    name,
    ...(summary === undefined ? {} : { summary }),
    options,
    needs: curlNeeds,
    metrics: ['curlLoss', 'curlAccuracy', 'curlGradNorm'],
    report,
    // W, [L, L]
    paramCount: ({ latentDim }) => latentDim * latentDim,
    stateBytes: keyQueueBytes,
    // logits z_a W [keys, queue]^T over K = b + queue columns: W k is 2 L^2 K, the
    // queries 2 b L K; the backward about twice that; debiasing and reweighting are elementwise
    flops: ({ latentDim: L, options, batch, rows, row }) => {
      const K = batch + options.auxQueue;
      const logitsFwd = 2 * L * L * K + 2 * batch * L * K;
      const encoder = encoderFlops(curlNeeds, rows, row);
      return { conv: encoder.conv, dense: encoder.dense + 3 * logitsFwd };
    },
    load: () => import('./curl-objective.js'),
  });
}

export const curl = curlFamilyMember('curl', { auxQueue: queue }, { rank: 0, color: '#d62728' }, 'CURL');
// CURL's variants in warm hues in the report, the non-CURL objectives in cool ones
export const curlDebiased = curlFamilyMember(
  'curl-debiased',
  // Chuang et al. use tau+ = 0.1 on CIFAR-10
  { auxQueue: queue, auxTauPlus: withDefault(tauPlus, 0.1) },
  { rank: 2, color: '#ff7f0e' },
);
export const curlHard = curlFamilyMember('curl-hard', { auxQueue: queue, auxTauPlus: tauPlus, auxBeta: beta }, { rank: 3, color: '#8c564b' });
