import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { parseDecimalInteger } from '../config-flags.js';
import { DEFAULT_IMAGE_SIZE, listEnvs, makeEnv } from '../../../envs/registry.js';
import type { Space } from '../../../envs/types.js';
import { RescaleAction } from '../../../envs/wrappers/rescale-action.js';

interface EnvListing {
  id: string;
  observation: { shape: number[]; dtype: string };
  action: { kind: 'box'; shape: number[]; low: number | number[]; high: number | number[] } | { kind: 'discrete'; n: number };
  /** The env's own action bounds when the agent's [-1, 1] is rescaled onto them (a remote env, envs/wrappers/rescale-action.ts). */
  envAction?: EnvListing['action'];
  controlTimestep?: number;
  episodeSteps?: number;
  description: string;
}

function describeAction(space: Space): EnvListing['action'] {
  if (space.kind === 'discrete') return { kind: 'discrete', n: space.n };
  const bound = (b: number | Float64Array): number | number[] => (typeof b === 'number' ? b : Array.from(b));
  return { kind: 'box', shape: [...space.shape], low: bound(space.low), high: bound(space.high) };
}

/**
 * The remote env's listing: it has to be started to learn its spaces.
 * `--remote-cmd` is the hook the lead wires to envs/remote/.
 */
async function remoteListing(command: string, imageSize: number): Promise<EnvListing> {
  const env = await makeEnv('remote', { remoteCmd: command, imageSize });
  try {
    const obs = env.observationSpace;
    return {
      id: 'remote',
      observation: obs.kind === 'box' ? { shape: [...obs.shape], dtype: obs.dtype } : { shape: [], dtype: `discrete(${obs.n})` },
      action: describeAction(env.actionSpace),
      ...(env instanceof RescaleAction ? { envAction: describeAction(env.env.actionSpace) } : {}),
      description: `remote env: ${command}`,
    };
  } finally {
    await env.close();
  }
}

export function register(program: Command): void {
  program
    .command('envs')
    .description('list the registered environments with their observation and action spaces')
    .option('--json', 'print one JSON object per env, one per line (JSON Lines)')
    .option('--image-size <n>', 'observation side in pixels', String(DEFAULT_IMAGE_SIZE))
    .option('--remote-cmd <command>', 'also start this remote env process and list its spaces')
    .action(async (opts: { json?: boolean; imageSize: string; remoteCmd?: string }) => {
      const size = parseDecimalInteger('--image-size', opts.imageSize, 'a positive integer');
      if (!Number.isInteger(size) || size < 1) throw new ConfigError(`--image-size = ${JSON.stringify(opts.imageSize)} is invalid; expected a positive integer`);
      const listings: EnvListing[] = listEnvs().map((e) => ({
        id: e.id,
        observation: { shape: [size, size, 3], dtype: 'uint8' },
        action: { kind: 'box', shape: [e.actionDim], low: -1, high: 1 },
        controlTimestep: e.controlTimestep,
        episodeSteps: e.episodeSteps,
        description: e.description,
      }));
      if (opts.remoteCmd !== undefined) listings.push(await remoteListing(opts.remoteCmd, size));
      if (opts.json) {
        for (const l of listings) console.log(JSON.stringify(l));
        return;
      }
      for (const l of listings) {
        const bounds = (a: EnvListing['action']): string => (a.kind === 'box' ? `[${String(a.low)}, ${String(a.high)}]` : '');
        let act = l.action.kind === 'box' ? `box${JSON.stringify(l.action.shape)} in ${bounds(l.action)}` : `discrete(${l.action.n})`;
        if (l.envAction) act += ` (rescaled onto the env's ${bounds(l.envAction)})`;
        console.log(`${l.id.padEnd(18)} obs ${l.observation.dtype}${JSON.stringify(l.observation.shape)}  action ${act}  ${l.description}`);
      }
    });
}
