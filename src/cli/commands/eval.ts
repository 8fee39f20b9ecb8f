import { constants as bufferConstants } from 'node:buffer';
import type { Command } from 'commander';
import { availableMemoryBytes, formatBytes } from '../../config/limits.js';
import { parseCount, type CountRange } from '../config-flags.js';

/** The longest text a return can print as in the result's JSON, with its comma: "-1.2345678901234567e+308,". */
const CHARS_PER_RETURN = 25;
/** What an episode holds until the end: its seed and its return (8 bytes each), and its text in the printed result. */
const BYTES_PER_EPISODE = 8 + 8 + CHARS_PER_RETURN;

/**
 * How many episodes one evaluation can hold: every episode's return is kept
 * and printed in the result's one JSON line, which must fit in one string and
 * in memory. (The video is the first episode's frames, streamed to its file.)
 */
export function episodesRange(available = availableMemoryBytes()): CountRange {
  const byString = Math.floor((bufferConstants.MAX_STRING_LENGTH - 1024) / CHARS_PER_RETURN);
  const byMemory = Math.floor(available.bytes / BYTES_PER_EPISODE);
  return byMemory < byString
    ? { min: 1, max: Math.max(1, byMemory), why: `each episode keeps about ${BYTES_PER_EPISODE} bytes until the result is printed, and this machine has ${formatBytes(available.bytes)} available (${available.source})` }
    : { min: 1, max: byString, why: `every return is printed in the result's one JSON line, and a string holds at most ${bufferConstants.MAX_STRING_LENGTH} characters` };
}

export function register(program: Command): void {
  program
    .command('eval')
    .description("evaluate a run's last checkpoint with the deterministic policy; prints one JSON object")
    .argument('<runDir>', 'run directory')
    .option('--episodes <n>', 'episodes to run', '10')
    .option('--seed <n>', 'seed of the first evaluation episode (episode i gets seed + i)', '0')
    .option('--video <file.gif>', "write the frames the agent saw in the first episode as an animated GIF")
    .option('--backend <name>', 'compute backend (default: the one in the run config)')
    .action(async (runDir: string, opts: { episodes: string; seed: string; video?: string; backend?: string }) => {
      const episodes = parseCount('--episodes', opts.episodes, episodesRange());
      const seed = parseCount('--seed', opts.seed, { min: 0, max: Number.MAX_SAFE_INTEGER - (episodes - 1) });
      const { evaluateRun } = await import('../../loop/evaluate-run.js');
      const result = await evaluateRun(runDir, { episodes, seed, video: opts.video, backend: opts.backend });
      console.log(JSON.stringify(result));
    });
}
