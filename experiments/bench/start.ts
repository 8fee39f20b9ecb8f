/**
 * Does `npm start` show learning? Runs its preset (`start`) to the end once per
 * seed, each in a fresh run directory, and prints one JSON line per seed: the
 * first and the final evaluation (mean and std over its episodes), every
 * evaluation, whether the final one is clearly above the first, the wall clock
 * and the conv engine; then one summary line.
 *
 * "Clearly above" (src/cli/eval-chart.ts, what `npm start` itself says): the
 * final mean is at least 1.5 times the first, and the final mean less its std
 * is above the first mean plus its std.
 *
 *   npm run bench -- start                              (seeds 1, 2, 3; native engine where built)
 *   npm run bench -- start --conv-engine tfjs           (how long without the native engine)
 *   npm run bench -- start --seeds 4,5 --keep           (keep the run directories; the path is printed)
 *
 * Flags: --preset start  --seeds 1,2,3  --conv-engine auto|libtorch|tfjs  --backend auto|wasm|...  --keep
 *        (--preset takes a name in experiments/presets/ or a JSON file's path)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { clearlyAbove } from '../../src/cli/eval-chart.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { ConfigError } from '../../src/core/errors.js';
import { train } from '../../src/loop/train.js';
import { readMetrics, type EvalRecord } from '../../src/run/metrics.js';

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      preset: { type: 'string', default: 'start' },
      seeds: { type: 'string', default: '1,2,3' },
      'conv-engine': { type: 'string' },
      backend: { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
  });
  const seeds = values.seeds.split(',').map((s) => Number(s.trim()));
  if (seeds.some((s) => !Number.isInteger(s) || s < 0)) throw new ConfigError(`bench start: --seeds must be whole numbers separated by commas, got '${values.seeds}'`);
  const root = mkdtempSync(join(os.tmpdir(), 'curl-rl-bench-start-'));
  const results: Array<{ seed: number; clearlyAbove: boolean; seconds: number }> = [];
  try {
    for (const seed of seeds) {
      // the engine and backend flags only when given: otherwise the preset's, or the defaults (auto)
      const flags = { seed, ...(values['conv-engine'] ? { convEngine: values['conv-engine'] } : {}), ...(values.backend ? { backend: values.backend } : {}) };
      const { config } = resolveConfig({ flags, preset: values.preset });
      const engineLine: string[] = [];
      const started = performance.now();
      const outcome = await train({ config, runDir: join(root, `s${seed}`), progress: 'none', log: (line) => void (line.startsWith('conv engine:') && engineLine.push(line)) });
      const seconds = (performance.now() - started) / 1000;
      if (outcome.state !== 'finished') throw new Error(`bench start: seed ${seed} did not finish (${outcome.state}: ${outcome.reason ?? 'no reason'})`);
      const evals = readMetrics(join(outcome.runDir, 'metrics.jsonl')).filter((r): r is EvalRecord => r.type === 'eval');
      const first = evals[0]!;
      const final = evals[evals.length - 1]!;
      const above = clearlyAbove(first, final);
      results.push({ seed, clearlyAbove: above, seconds });
      console.log(JSON.stringify({
        bench: 'start',
        preset: values.preset,
        env: config.env,
        aux: config.aux,
        seed,
        first: { envStep: first.envStep, mean: round(first.mean), std: round(first.std) },
        final: { envStep: final.envStep, mean: round(final.mean), std: round(final.std) },
        clearlyAbove: above,
        evals: evals.map((e) => [e.envStep, round(e.mean)]),
        wallClockSeconds: round(seconds),
        trainingSeconds: round(final.wallTime),
        convEngine: engineLine[0]?.replace(/^conv engine: /, ''),
        load: os.loadavg().map(round),
      }));
    }
  } finally {
    if (values.keep) console.error(`bench start: runs kept in ${root}`);
    else rmSync(root, { recursive: true, force: true });
  }
  console.log(JSON.stringify({
    bench: 'start',
    preset: values.preset,
    seeds,
    allClearlyAbove: results.every((r) => r.clearlyAbove),
    meanWallClockSeconds: round(results.reduce((a, r) => a + r.seconds, 0) / results.length),
  }));
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
