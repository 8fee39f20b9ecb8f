import { describe, expect, it } from 'vitest';
import { makeEnv } from '../../envs/registry.js';
import { evaluatePolicy } from '../../src/loop/evaluate.js';

describe('evaluatePolicy', () => {
  it('acts deterministically on the centre crop of the frame stack (repeating the first frame at reset)', async () => {
    const size = 10;
    const crop = 6; // pad 4: the centre offset is 2
    const stack = 2;
    const env = await makeEnv('toy-reach', { imageSize: size, actionRepeat: 4, seed: 1 }); // 250 steps an episode
    const frames: Uint8Array[] = [];
    const seen: Array<{ obs: Uint8Array; deterministic: boolean }> = [];
    const policy = {
      act(obs: Uint8Array, options: { deterministic: boolean }) {
        seen.push({ obs: obs.slice(), deterministic: options.deterministic });
        return Float32Array.of(1, -1);
      },
    };
    const result = await evaluatePolicy(env, policy, { imageSize: size, cropSize: crop, frameStack: stack }, [7], (f) => frames.push(f.slice()));
    expect(seen).toHaveLength(250);
    expect(seen.every((s) => s.deterministic)).toBe(true);
    // what the policy must see at step t: frames t-1 and t (frame 0 twice at reset), rows and columns 2..7, channels stacked per pixel
    const expected = (t: number): Uint8Array => {
      const out = new Uint8Array(crop * crop * 3 * stack);
      const ids = [Math.max(0, t - 1), t];
      for (let y = 0; y < crop; y++) {
        for (let x = 0; x < crop; x++) {
          ids.forEach((id, k) => {
            for (let c = 0; c < 3; c++) out[(y * crop + x) * 3 * stack + 3 * k + c] = frames[id]![((y + 2) * size + x + 2) * 3 + c]!;
          });
        }
      }
      return out;
    };
    for (const t of [0, 1, 2, 125, 249]) expect(seen[t]!.obs).toEqual(expected(t));
    expect(result.returns).toHaveLength(1);
  });
});
