/*
 * Ray-casting renderer throughput on one core: frames/s for each built-in
 * task's model (taken from envs/tasks when they load) at each requested size,
 * in a typical pose reached by stepping random controls. Only render() is
 * timed; physics between frames is not. One JSON object per line.
 * Flags: --sizes 84,100  --frames 300 (per task and size)  --tasks id,id (default: all)
 *        --no-shadows.
 */
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Renderer } from '../../envs/render/index.js';
import type { MjData, MjModel, MujocoModule } from '../../envs/render/index.js';
import { ConfigError } from '../../src/core/errors.js';

interface SceneSpec { id: string; xml: string; camera: string | number }

const TASK_MODULES: [string, string][] = [
  ['../../envs/tasks/cartpole.js', 'cartpoleSwingup'],
  ['../../envs/tasks/pendulum.js', 'pendulumSwingup'],
  ['../../envs/tasks/finger.js', 'fingerSpin'],
  ['../../envs/tasks/reacher.js', 'reacherEasy'],
  ['../../envs/tasks/cheetah.js', 'cheetahRun'],
  ['../../envs/tasks/walker.js', 'walkerWalk'],
  ['../../envs/tasks/ball-in-cup.js', 'ballInCupCatch'],
];

async function loadScenes(): Promise<SceneSpec[]> {
  const scenes: SceneSpec[] = [];
  for (const [path, name] of TASK_MODULES) {
    try {
      const mod = (await import(path)) as Record<string, { id: string; xml: string; camera: string } | undefined>;
      const t = mod[name];
      if (t !== undefined) scenes.push({ id: t.id, xml: t.xml, camera: t.camera });
    } catch (err) {
      console.error(`bench render: skipping ${path}: ${(err as Error).message}`);
    }
  }
  return scenes;
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      sizes: { type: 'string', default: '84,100' },
      frames: { type: 'string', default: '300' },
      tasks: { type: 'string', default: '' },
      shadows: { type: 'boolean', default: true },
      'no-shadows': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const sizes = String(values.sizes).split(',').map(Number);
  if (sizes.some((s) => !Number.isInteger(s) || s < 1)) throw new ConfigError(`bench render: --sizes must be positive integers, got ${values.sizes}`);
  const frames = Number(values.frames);
  if (!Number.isInteger(frames) || frames < 1) throw new ConfigError(`bench render: --frames must be a positive integer, got ${values.frames}`);
  const only = String(values.tasks).split(',').filter((s) => s !== '');
  const shadows = !values['no-shadows'];

  const mj: MujocoModule = await (await import('@mujoco/mujoco')).default();
  const scenes = (await loadScenes()).filter((s) => only.length === 0 || only.includes(s.id));
  for (const scene of scenes) {
    const model: MjModel = mj.MjModel.from_xml_string(scene.xml);
    const data: MjData = new mj.MjData(model);
    try {
      warmPose(mj, model, data);
      for (const size of sizes) {
        const r = new Renderer(mj, model, { width: size, height: size, camera: scene.camera, shadows });
        const out = new Uint8Array(size * size * 3);
        for (let k = 0; k < 30; k++) r.render(data, out); // JIT warm-up
        // Wall time and this process's CPU time: on a shared machine the
        // latter is closer to what one free core would give.
        let elapsed = 0, cpuMicros = 0;
        for (let k = 0; k < frames; k++) {
          if (k % 10 === 0) stepRandom(mj, model, data, k, 5);
          const c0 = process.cpuUsage();
          const t0 = performance.now();
          r.render(data, out);
          elapsed += performance.now() - t0;
          const c1 = process.cpuUsage(c0);
          cpuMicros += c1.user + c1.system;
        }
        r.dispose();
        console.log(JSON.stringify({
          bench: 'render', task: scene.id, width: size, height: size, shadows, frames,
          framesPerSec: Math.round((frames / elapsed) * 1000), msPerFrame: +(elapsed / frames).toFixed(3),
          cpuFramesPerSec: Math.round((frames / cpuMicros) * 1e6),
          loadAvg1: +osLoad().toFixed(2),
          ngeom: model.ngeom,
        }));
      }
    } finally {
      data.delete();
      model.delete();
    }
  }
}

/** A deterministic, non-trivial pose: a second of sine-wave controls. */
function warmPose(mj: MujocoModule, model: MjModel, data: MjData): void {
  mj.mj_resetData(model, data);
  stepRandom(mj, model, data, 0, Math.round(1 / model.opt.timestep));
}

function stepRandom(mj: MujocoModule, model: MjModel, data: MjData, phase: number, steps: number): void {
  for (let s = 0; s < steps; s++) {
    const ctrl = data.ctrl as Float64Array;
    for (let a = 0; a < model.nu; a++) ctrl[a] = Math.sin(0.37 * (phase + s) + a);
    mj.mj_step(model, data);
  }
  mj.mj_forward(model, data);
}

function osLoad(): number {
  return loadavg()[0] ?? 0;
}
