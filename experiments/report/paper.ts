/*
 * Published DMControl results of the CURL paper (Srinivas, Laskin & Abbeel
 * 2020, Table 1): mean eval return over 10 seeds at 100k and 500k environment
 * steps, as quoted in shared/DESIGN.md. `curl` is CURL, `none` is the paper's
 * Pixel SAC baseline: SAC on pixels without augmentation, which is our variant
 * `pixel-sac` (`--aux none --aug none`), not `--aux none` with its random crops
 * (RAD's setting, which the paper did not report). Tasks not in the table
 * (cartpole-balance, pendulum-swingup) have no published numbers.
 */
import type { AuxName } from '../../src/config/schema.js';
import { baseVariant, PIXEL_SAC } from './variant.js';

export interface PublishedScores {
  at100k: number;
  at500k: number;
  /** The standard deviation over the paper's seeds at 100k, where this project quotes it (cartpole-swingup). */
  std100k?: number;
}

export const paperTable1: Readonly<Record<string, Readonly<Record<Extract<AuxName, 'curl' | 'none'>, PublishedScores>>>> = {
  'finger-spin': { curl: { at100k: 767, at500k: 926 }, none: { at100k: 179, at500k: 179 } },
  'cartpole-swingup': { curl: { at100k: 582, at500k: 841, std100k: 146 }, none: { at100k: 419, at500k: 419, std100k: 40 } },
  'reacher-easy': { curl: { at100k: 538, at500k: 929 }, none: { at100k: 145, at500k: 145 } },
  'cheetah-run': { curl: { at100k: 299, at500k: 518 }, none: { at100k: 197, at500k: 197 } },
  'walker-walk': { curl: { at100k: 403, at500k: 902 }, none: { at100k: 42, at500k: 42 } },
  'ball_in_cup-catch': { curl: { at100k: 769, at500k: 959 }, none: { at100k: 312, at500k: 312 } },
};

/** State SAC at 500k, the paper's upper reference. */
export const paperStateSac500k: Readonly<Record<string, number>> = {
  'finger-spin': 923,
  'cartpole-swingup': 848,
  'reacher-easy': 923,
  'cheetah-run': 795,
  'walker-walk': 948,
  'ball_in_cup-catch': 974,
};

/** The paper's numbers for a report variant (see variant.ts): `curl` and `pixel-sac` only, at any precision. */
export function publishedScores(env: string, variant: string): PublishedScores | undefined {
  const row = paperTable1[env];
  if (row === undefined) return undefined;
  // bf16 trains the same agent (issue 23 measures how close); the paper's number is the comparison either way
  const agent = baseVariant(variant);
  if (agent === 'curl') return row.curl;
  if (agent === PIXEL_SAC) return row.none;
  return undefined;
}
