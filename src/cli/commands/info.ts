import os from 'node:os';
import type { Command } from 'commander';
import * as tf from '@tensorflow/tfjs';
import { initBackend, probeBackends } from '../../backend.js';
import { backendNames, type BackendName } from '../../core/backend-names.js';
import { ConfigError } from '../../core/errors.js';
import { libtorchThreads, resolveConvEngine } from '../../conv-engine.js';
import { coreShareWorkers } from '../../../agents/index.js';
import { loadConvAddon } from '../../../agents/native/addon.js';
import type { AddonStatus } from '../../../agents/native/addon.js';

/** The addon's libtorch: its version, how it runs bf16 here, and which libtorch the build chose and why. */
function libtorchFacts(addon: AddonStatus) {
  if (!addon.available) return null;
  const { torchVersion, mkldnn, bf16, bf16Why } = addon.info;
  return { version: torchVersion, onednn: mkldnn, bf16, bf16Why, addon: addon.path, build: addon.build };
}

function printLibtorch(libtorch: NonNullable<ReturnType<typeof libtorchFacts>>): void {
  console.log(`  libtorch ${libtorch.version} (oneDNN ${libtorch.onednn ? 'yes' : 'no'}), bf16 ${libtorch.bf16} (${libtorch.bf16Why}): ${libtorch.addon}`);
  const { build } = libtorch;
  if (!build) {
    console.log('  built without a record of its libtorch (libtorch.json): rebuild with `npm run build:native` to have one');
    return;
  }
  console.log(`  built against ${build.source}: ${build.reason}`);
  for (const c of build.candidates) console.log(`    ${c.source}: ${c.why ?? c.version ?? 'version unknown'}`);
}

export function register(program: Command): void {
  program
    .command('info')
    .description('show the compute backends available here and the one that would be used')
    .option('--backend <name>', `backend to try (${backendNames.join('|')})`, 'auto')
    .option('--json', 'print one JSON object')
    .action(async (opts: { backend: string; json?: boolean }) => {
      if (!(backendNames as readonly string[]).includes(opts.backend)) {
        throw new ConfigError(`--backend = ${JSON.stringify(opts.backend)} is invalid; allowed: one of ${backendNames.join(', ')}`);
      }
      const probes = probeBackends();
      const choice = await initBackend(opts.backend as BackendName, { probes });
      const engine = resolveConvEngine('auto', choice.name);
      const libtorch = libtorchFacts(loadConvAddon());
      const info = {
        backend: choice.name,
        requested: choice.requested,
        backends: probes.map((p) => ({ name: p.name, available: p.available, reason: p.reason })),
        wasm: choice.name === 'wasm' ? { simd: choice.flags.WASM_HAS_SIMD_SUPPORT, threads: choice.flags.WASM_HAS_MULTITHREAD_SUPPORT } : undefined,
        convEngine: {
          engine: engine.engine,
          reason: engine.reason,
          threads: engine.engine === 'libtorch' ? libtorchThreads(undefined) : 1 + coreShareWorkers(),
          libtorch,
        },
        tfjsVersion: tf.version.tfjs,
        nodeVersion: process.version,
        cpus: os.cpus().length,
        totalMemoryBytes: os.totalmem(),
      };
      if (opts.json) {
        console.log(JSON.stringify(info));
        return;
      }
      console.log(`backend: ${info.backend} (requested ${info.requested})`);
      for (const b of info.backends) console.log(`  ${b.available ? '✓' : '✗'} ${b.name.padEnd(15)} ${b.reason}`);
      console.log(`conv engine: ${info.convEngine.engine} on ${info.convEngine.threads} thread(s) (${info.convEngine.reason})`);
      console.log(`heads: ${info.convEngine.engine} (the Q and actor MLPs, Adam and the target EMA run where the convs do, in fp32)`);
      if (libtorch) printLibtorch(libtorch);
      console.log(`tfjs ${info.tfjsVersion}, node ${info.nodeVersion}, ${info.cpus} CPUs`);
    });
}
