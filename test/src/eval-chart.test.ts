import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clearlyAbove, evalChart, startSummary } from '../../src/cli/eval-chart.js';
import { killChildrenAfterEach, runCli, writePreset } from '../faults/helpers.js';
import { tempDir, tinyConfig } from '../loop/helpers.js';

killChildrenAfterEach();

const points = [
  { envStep: 0, mean: 60, std: 2 },
  { envStep: 2000, mean: 70, std: 3 },
  { envStep: 4000, mean: 140, std: 5 },
];

describe('the end of npm start', () => {
  it('calls a final evaluation clearly above the first only when it is 1.5 times as high and the one-std intervals are apart', () => {
    expect(clearlyAbove({ mean: 60, std: 2 }, { mean: 140, std: 5 })).toBe(true);
    expect(clearlyAbove({ mean: 60, std: 2 }, { mean: 89, std: 1 })).toBe(false); // under 1.5x
    expect(clearlyAbove({ mean: 60, std: 30 }, { mean: 120, std: 31 })).toBe(false); // intervals overlap
  });

  it('draws the returns over env steps, one column per interpolated point, first at the left and last at the right', () => {
    const chart = evalChart(points, { width: 30, height: 6 }).split('\n');
    const axis = chart.pop()!;
    expect(chart).toHaveLength(7);
    // the top row is labelled with the highest return and ends in the curve; the bottom with the lowest
    expect(chart[0]).toMatch(/^ +140 ┤/);
    expect(chart[6]).toMatch(/^ +60 ┼─/);
    expect(chart[0]!.trimEnd()).toHaveLength(7 + 30);
    expect(axis).toMatch(/^ {7}env step 0 +4000$/);
    expect(axis.length).toBe(7 + 30);
  });

  it('says whether the agent learned and how to open TensorBoard', () => {
    expect(startSummary(points, 'runs')).toMatch(/the agent learned: 60\.0 ± 2\.0 at env step 0 -> 140\.0 ± 5\.0 at 4000 \(2\.3x\)\.\nwatch runs as they train: tensorboard --logdir runs/);
    expect(startSummary([points[0]!, { envStep: 4000, mean: 61, std: 2 }], 'runs')).toMatch(/no clear learning in this run/);
  });

  it('`curl-rl start` ends with the chart and the TensorBoard command', async () => {
    const base = tempDir();
    const preset = writePreset(base, { ...tinyConfig({ backend: 'wasm', steps: 120 * 4, evalEvery: 60 * 4 }), runsDir: base });
    const result = await runCli(['start', '--preset', preset, '--run-dir', join(base, 'runs', 'first'), '--progress', 'none']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/evaluation return \(mean over each evaluation's episodes\):\n\n[\s\S]*┤[\s\S]*env step 0 +480\n\n(the agent learned|no clear learning)/);
    expect(result.stdout).toContain(`tensorboard --logdir ${join(base, 'runs')}`);
  });
});
