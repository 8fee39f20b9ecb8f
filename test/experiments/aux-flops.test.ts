// The aux objectives' FLOP counts in `bench update`, against the passes each one runs, written out.
import { describe, expect, it } from 'vitest';
import type { AgentConfig } from '../../agents/index.js';
import { auxFlops } from '../../experiments/bench/lib/aux-flops.js';
import { defaultConfig } from '../../src/config/schema.js';

describe('aux FLOPs per update', () => {
  const row = { convFwd: 1000, convBwd: 1800, head: 100 };
  const b = 4;
  const base: AgentConfig = { ...defaultConfig(), latentDim: 3, auxHiddenDim: 5, auxProjDim: 2 };
  const at = (aux: AgentConfig['aux'], over: Partial<AgentConfig> = {}) => auxFlops({ ...base, aux, ...over }, b, row);

  it('none adds nothing', () => expect(at('none')).toEqual({ conv: 0, dense: 0 }));

  it('CURL: keys fwd + one conv backward; key head, head backward; logits over batch + queue keys, 3x forward', () => {
    for (const q of [0, 6]) {
      const K = b + q;
      const logits = 2 * 3 * 3 * K + 2 * b * 3 * K;
      for (const aux of ['curl', 'curl-debiased', 'curl-hard'] as const) {
        expect(at(aux, { auxQueue: q })).toEqual({ conv: b * (1000 + 1800), dense: b * 300 + 3 * logits });
      }
    }
  });

  it('SimCLR / Barlow: the positive crop twice forward and both views backward; MLP over 2b rows; similarity or cross-correlation', () => {
    const mlp = 2 * (3 * 5 + 5 * 2);
    const views = { conv: b * (2 * 1000 + 2 * 1800), dense: b * (2 * 100 + 4 * 100) };
    expect(at('simclr')).toEqual({ conv: views.conv, dense: views.dense + 3 * 2 * b * mlp + 3 * 2 * (2 * b) ** 2 * 2 });
    expect(at('barlow')).toEqual({ conv: views.conv, dense: views.dense + 3 * 2 * b * mlp + 3 * 2 * b * 2 * 2 });
  });

  it('BYOL: as SimCLR plus the momentum encoder on both crops, predictor, and a forward-only target projector', () => {
    const proj = 2 * (3 * 5 + 5 * 2);
    const pred = 2 * (2 * 5 + 5 * 2);
    expect(at('byol')).toEqual({
      conv: b * (2 * 1000 + 2 * 1800) + 2 * b * 1000,
      dense: b * (2 * 100 + 4 * 100) + 2 * b * 100 + 3 * 2 * b * (proj + pred) + 2 * b * proj,
    });
  });
});
