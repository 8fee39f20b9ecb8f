import { describe, expect, it } from 'vitest';
import { chooseBackend, initBackend, probeBackends, type ProbeEnvironment } from '../../src/backend.js';
import { BackendUnavailableError } from '../../src/core/errors.js';

function environment(installed: string[], cuda: boolean): ProbeEnvironment {
  return { isResolvable: (pkg) => installed.includes(pkg), cudaDeviceVisible: () => cuda };
}

const wasm = '@tensorflow/tfjs-backend-wasm';

describe('backend selection', () => {
  it('auto takes the GPU binding when it is installed and CUDA is visible', () => {
    const probes = probeBackends(environment(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node', wasm], true));
    expect(chooseBackend('auto', probes)).toEqual({ name: 'tensorflow-gpu', skipped: [] });
  });

  it('auto skips the GPU binding without CUDA and falls to native CPU, saying why', () => {
    const probes = probeBackends(environment(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node', wasm], false));
    const choice = chooseBackend('auto', probes);
    expect(choice.name).toBe('tensorflow');
    expect(choice.skipped.map((p) => p.name)).toEqual(['tensorflow-gpu']);
    expect(choice.skipped[0]!.reason).toMatch(/no NVIDIA driver/);
  });

  it('auto falls back in order: wasm when no native binding, cpu when nothing else', () => {
    expect(chooseBackend('auto', probeBackends(environment([wasm], true))).name).toBe('wasm');
    const none = chooseBackend('auto', probeBackends(environment([], false)));
    expect(none.name).toBe('cpu');
    expect(none.skipped.map((p) => p.name)).toEqual(['tensorflow-gpu', 'tensorflow', 'wasm']);
  });

  it('asking for a backend that is not installed fails with the install command', () => {
    const probes = probeBackends(environment([wasm], false));
    expect(() => chooseBackend('tensorflow-gpu', probes)).toThrow(BackendUnavailableError);
    expect(() => chooseBackend('tensorflow-gpu', probes)).toThrow(/npm install @tensorflow\/tfjs-node-gpu/);
    expect(() => chooseBackend('tensorflow', probes)).toThrow(/npm install @tensorflow\/tfjs-node@/);
  });

  it('tensorflow-gpu installed without CUDA is refused, naming the missing driver', () => {
    const probes = probeBackends(environment(['@tensorflow/tfjs-node-gpu'], false));
    expect(() => chooseBackend('tensorflow-gpu', probes)).toThrow(/no NVIDIA driver is visible/);
  });

  it('on this machine the real probe finds wasm and cpu, and auto initialises wasm with SIMD', async () => {
    const probes = probeBackends();
    expect(probes.find((p) => p.name === 'wasm')!.available).toBe(true);
    expect(probes.find((p) => p.name === 'cpu')!.available).toBe(true);
    const lines: string[] = [];
    const choice = await initBackend('auto', { log: (l) => lines.push(l), probes: probes.filter((p) => p.name === 'wasm' || p.name === 'cpu').concat(
      { name: 'tensorflow-gpu', available: false, reason: 'not installed' },
      { name: 'tensorflow', available: false, reason: 'not installed' },
    ) });
    expect(choice.name).toBe('wasm');
    expect(choice.flags.WASM_HAS_SIMD_SUPPORT).toBe(true);
    expect(lines[0]).toMatch(/backend: wasm \(auto; skipped tensorflow-gpu: not installed; tensorflow: not installed\)/);
  });
});
