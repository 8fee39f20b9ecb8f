/*
 * Flags outside their range, in the commands beside train: each exits 2 with
 * a message that names the flag, the value and what is allowed (the config
 * schema's range where the flag feeds a config field, so the two agree),
 * before any work starts: no measurement, no thread, no script line. A value
 * written into an sbatch script may not hold a newline or another control
 * character, which would end its #SBATCH line early and make sbatch drop the
 * lines after it without a word.
 */
import { availableParallelism } from 'node:os';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConvAddon } from '../../agents/native/addon.js';
import { cliInProcess, scratchRoot } from './helpers.js';

const scratch = scratchRoot('curl-faults-flags-');

describe('bench update', () => {
  it.each([
    [['--batch-size', '99999'], /--batch-size = 99999 is out of range; allowed: an integer from 2 to 4096/],
    // above train's largest batch: what the benchmark measures must be a batch a run can have
    [['--batch-size', '5000'], /--batch-size = 5000 is out of range; allowed: an integer from 2 to 4096/],
    [['--batch-size', '128,1e3'], /--batch-size = "1e3" is not a whole number written in decimal digits .*allowed: an integer from 2 to 4096/],
    [['--conv-workers', '999'], /--conv-workers = 999 is out of range; allowed: an integer from 0 to 64/],
    [['--micro-batch', '0'], /--micro-batch = 0 is out of range; allowed: an integer from 1 to/],
    [['--iters', '0'], /--iters = 0 is out of range; allowed: an integer from 1 to/],
    [['--warmup=-1'], /--warmup = -1 is out of range; allowed: an integer from 0 to/],
    [['--aug-k', '1,17'], /--aug-k = 17 is out of range; allowed: an integer from 1 to 16/],
  ])('%j exits 2 naming the flag and its range, and measures nothing', async (flags, message) => {
    const { code, out } = await cliInProcess(['bench', 'update', '--aux', 'none', ...flags]);
    expect(out).toMatch(message);
    expect(code).toBe(2);
    expect(out).not.toMatch(/RangeError|\n\s+at |^\{/m);
  });

  it('--batch-size 0 is answered about --batch-size alone', async () => {
    const { code, out } = await cliInProcess(['bench', 'update', '--batch-size', '0']);
    expect(code).toBe(2);
    expect(out).toMatch(/--batch-size = 0 is out of range; allowed: an integer from 2 to 4096/);
    expect(out).not.toMatch(/--iters|--warmup/);
  });

  // The libtorch engine gives each update --conv-workers + 1 threads; without the addon the tfjs engine would start a wasm heap per worker.
  it.skipIf(!loadConvAddon().available)('--conv-workers above the cores is lowered to one thread per core, with the note train gives', async () => {
    const cores = availableParallelism();
    const { code, out } = await cliInProcess(['bench', 'update', '--aux', 'none', '--batch-size', '2', '--iters', '1', '--warmup', '0', '--conv-engine', 'libtorch', '--conv-workers', '64']);
    expect(code).toBe(0);
    expect(out).toMatch(new RegExp(`--conv-workers 64 would run 65 threads on ${cores} cores?; using ${cores - 1} workers?`));
    const row = JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!) as { convWorkers: number; threads: number };
    expect(row).toMatchObject({ convWorkers: cores - 1, threads: cores });
  });
});

describe('sweep', () => {
  function sweepFile(): string {
    const dir = scratch();
    const file = join(dir, 'sw.json');
    // tiny, in case a sweep that should have been refused starts training after all
    const overrides = { backend: 'cpu', imageSize: 16, cropSize: 12, frameStack: 2, steps: 40, initSteps: 4, batchSize: 8, microBatch: 8, replayCapacity: 100, hiddenDim: 16, latentDim: 8, numConvLayers: 2, numFilters: 4, evalEvery: 40, evalEpisodes: 1 };
    writeFileSync(file, JSON.stringify({ name: 'flags', tasks: ['toy-reach'], seeds: [1], aux: ['none'], runsDir: 'runs', overrides }));
    return file;
  }

  it.each([
    [['--parallel', '1e3'], /--parallel = "1e3" is not a whole number written in decimal digits \(like 100000\); allowed: an integer from 1 to/],
    [['--parallel', '0'], /--parallel = 0 is out of range; allowed: an integer from 1 to/],
    [['--executor', 'slurm', '--dry-run', '--cpus-per-task', '0x10'], /--cpus-per-task = "0x10" is not a whole number written in decimal digits/],
    [['--executor', 'slurm', '--dry-run', '--max-concurrent', '2.5'], /--max-concurrent = "2\.5" is not a whole number written in decimal digits/],
  ])('%j exits 2 naming the flag and its range, starting nothing', async (flags, message) => {
    const file = sweepFile();
    const { code, out } = await cliInProcess(['sweep', file, ...flags]);
    expect(out).toMatch(message);
    expect(code).toBe(2);
    expect(out).not.toMatch(/^#SBATCH|\n\s+at /m);
    expect(existsSync(join(file, '..', 'runs'))).toBe(false);
  });

  it.each([
    [['--time', '\n\n04:00:00'], /--time "\\n\\n04:00:00" contains a newline or another control character/],
    [['--time', '04:00:00\n#SBATCH --wrap=x'], /--time .* contains a newline or another control character/],
    [['--partition', 'gpu\u0001'], /--partition "gpu\\u0001" contains a newline or another control character/],
    [['--sbatch-arg=--comment=a\tb'], /--sbatch-arg "--comment=a\\tb" contains a newline or another control character/],
    [['--sbatch-arg=--qos=high\u001b[0m'], /--sbatch-arg .* contains a newline or another control character/],
  ])('Slurm %j is refused with exit 2: it would break the #SBATCH lines after it', async (flags, message) => {
    const file = sweepFile();
    const { code, out } = await cliInProcess(['sweep', file, '--executor', 'slurm', '--dry-run', ...flags]);
    expect(out).toMatch(message);
    expect(code).toBe(2);
    expect(out).not.toMatch(/^#SBATCH/m);
  });

  it('a runs folder whose path holds a control character is refused for Slurm too', async () => {
    const file = sweepFile();
    const runsDir = join(scratch(), 'r\u0001s');
    mkdirSync(runsDir);
    const { code, out } = await cliInProcess(['sweep', file, '--executor', 'slurm', '--dry-run', '--runs-dir', runsDir]);
    expect(out).toMatch(/the sweep folder .* contains whitespace, quotes or control characters/);
    expect(code).toBe(2);
    expect(out).not.toMatch(/^#SBATCH/m);
  });
});
