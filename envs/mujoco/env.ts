import { Rng, type RngState } from '../../src/core/rng.js';
import { validateBoxAction } from '../action.js';
import { EnvError } from '../errors.js';
import { boxSpace, type BoxSpace, type Env, type EnvSnapshot, type ResetOptions, type ResetResult, type SnapshotCapable, type StepResult } from '../types.js';
import type { SkipRenderCapable, PhysicsStepResult } from '../skip-render.js';
import { loadMujoco, type MujocoModule } from './module.js';
import { Physics } from './physics.js';
import { defaultRendererFactory, type FrameRenderer, type RendererFactory } from './renderer.js';
import type { BoundTask, MujocoTask, TaskState } from './task.js';
import type { PhysicalState, StateReadable } from '../state.js';

export interface MujocoEnvOptions {
  /** Square image side in pixels (default 100). */
  imageSize?: number;
  /** Seed used when the first reset gives none. */
  seed?: number;
  /** Replaces the project renderer (tests use this to count renders). */
  rendererFactory?: RendererFactory;
}

type MujocoSnapshot = {
  kind: 'mujoco';
  id: string;
  qpos: number[];
  qvel: number[];
  act: number[];
  ctrl: number[];
  /** The constraint solver's warm start: part of the state for bit-exact continuation with contacts. */
  warmstart: number[];
  time: number;
  episodeStep: number;
  rng: { prng: RngState; spareNormal: number | null } | null;
  task: TaskState | null;
};

/**
 * A dm_control-style pixel task: one agent `step` is one control step
 * (`controlTimestep / model timestep` physics steps with the action held), the
 * observation is the camera image, uint8 HWC RGB. Actions outside [-1, 1] are
 * clipped, as MuJoCo's ctrllimited actuators do in dm_control; wrong lengths
 * and non-finite values are errors. The env never ends an episode itself:
 * `makeEnv` adds a TimeLimit at `episodeSteps` control steps (truncation).
 */
export class MujocoEnv implements Env<Uint8Array, Float32Array>, SnapshotCapable, SkipRenderCapable<Uint8Array, Float32Array>, StateReadable {
  readonly id: string;
  readonly observationSpace: BoxSpace;
  readonly actionSpace: BoxSpace;
  readonly substeps: number;
  readonly physics: Physics;
  private readonly bound: BoundTask;
  private readonly renderer: FrameRenderer;
  private readonly ctrlScratch: Float64Array;
  private rng: Rng;
  private episodeStep = 0;
  private needsReset = true;
  private closed = false;

  static async create(task: MujocoTask, options: MujocoEnvOptions = {}): Promise<MujocoEnv> {
    const mj = await loadMujoco();
    const factory = options.rendererFactory ?? (await defaultRendererFactory());
    return new MujocoEnv(mj, task, factory, options);
  }

  constructor(
    mj: MujocoModule,
    readonly task: MujocoTask,
    rendererFactory: RendererFactory,
    options: MujocoEnvOptions = {},
  ) {
    const size = options.imageSize ?? 100;
    if (!Number.isInteger(size) || size < 1 || size > 4096) {
      throw new EnvError(`${task.id}: imageSize must be an integer in [1, 4096], got ${size}`);
    }
    this.id = task.id;
    this.physics = new Physics(mj, task.xml, task.id);
    try {
      const ratio = task.controlTimestep / this.physics.timestep;
      this.substeps = Math.round(ratio);
      if (this.substeps < 1 || Math.abs(ratio - this.substeps) > 1e-6) {
        throw new EnvError(`${task.id}: control timestep ${task.controlTimestep} is not a multiple of the model timestep ${this.physics.timestep}`);
      }
      if ((this.physics.model.nu as number) !== task.actionDim) {
        throw new EnvError(`${task.id}: model has ${this.physics.model.nu} actuators, task declares ${task.actionDim}`);
      }
      this.bound = task.bind(this.physics);
      this.renderer = rendererFactory(mj, this.physics.model, { width: size, height: size, camera: task.camera });
    } catch (error) {
      this.physics.dispose();
      throw error;
    }
    this.observationSpace = boxSpace([size, size, 3], 'uint8', 0, 255);
    this.actionSpace = boxSpace([task.actionDim], 'float32', -1, 1);
    this.ctrlScratch = new Float64Array(task.actionDim);
    this.rng = new Rng(options.seed ?? Math.floor(Math.random() * 2 ** 31));
  }

  get controlTimestep(): number {
    return this.task.controlTimestep;
  }

  reset(options: ResetOptions = {}): ResetResult<Uint8Array> {
    this.assertOpen();
    if (options.seed !== undefined) this.rng = new Rng(options.seed);
    const p = this.physics;
    p.reset();
    this.bound.initialize(this.rng);
    p.time = 0;
    p.forward();
    this.episodeStep = 0;
    this.needsReset = false;
    return { observation: this.observe(), info: {} };
  }

  stepWithoutObservation(action: Float32Array): PhysicsStepResult {
    this.assertOpen();
    if (this.needsReset) throw new EnvError(`${this.id}: step() called before reset()`);
    const ctrl = validateBoxAction(this.id, action, this.actionSpace, this.ctrlScratch);
    const p = this.physics;
    p.ctrl.set(ctrl);
    for (let i = 0; i < this.substeps; i++) p.step();
    // mj_step leaves positions and sensors one integration step behind qpos;
    // recompute them so the reward and the image describe the same state.
    p.forward();
    this.episodeStep++;
    return { reward: this.bound.reward(), terminated: false, truncated: false, info: {} };
  }

  observe(out?: Uint8Array): Uint8Array {
    this.assertOpen();
    return this.renderer.render(this.physics.data, out);
  }

  step(action: Float32Array): StepResult<Uint8Array> {
    const r = this.stepWithoutObservation(action);
    return { ...r, observation: this.observe() };
  }

  /**
   * Joint positions, then joint velocities: a hinge's angle as its cosine and
   * sine (an angle that winds past 2 pi is the same state, which a linear map
   * cannot see in the raw angle), a slide's position as it is, ball and free
   * joints' coordinates as MuJoCo stores them.
   */
  physicalState(): PhysicalState {
    const names: string[] = [];
    const values: number[] = [];
    const qpos = this.physics.qpos;
    const qvel = this.physics.qvel;
    const joints = this.physics.joints();
    for (const joint of joints) {
      const at = joint.qposAdr;
      if (joint.kind === 'hinge') {
        names.push(`${joint.name}.cos`, `${joint.name}.sin`);
        values.push(Math.cos(qpos[at] as number), Math.sin(qpos[at] as number));
      } else {
        const n = joint.kind === 'slide' ? 1 : joint.kind === 'ball' ? 4 : 7;
        for (let i = 0; i < n; i++) {
          names.push(n === 1 ? `${joint.name}.pos` : `${joint.name}.qpos${i}`);
          values.push(qpos[at + i] as number);
        }
      }
    }
    for (const joint of joints) {
      const n = joint.kind === 'free' ? 6 : joint.kind === 'ball' ? 3 : 1;
      for (let i = 0; i < n; i++) {
        names.push(n === 1 ? `${joint.name}.vel` : `${joint.name}.qvel${i}`);
        values.push(qvel[joint.dofAdr + i] as number);
      }
    }
    return { names, values: Float64Array.from(values) };
  }

  getSnapshot(): EnvSnapshot {
    this.assertOpen();
    const p = this.physics;
    const snap: MujocoSnapshot = {
      kind: 'mujoco',
      id: this.id,
      qpos: Array.from(p.qpos),
      qvel: Array.from(p.qvel),
      act: Array.from(p.act),
      ctrl: Array.from(p.ctrl),
      warmstart: Array.from(p.warmstart),
      time: p.time,
      episodeStep: this.episodeStep,
      rng: this.rng.getState(),
      task: this.bound.getState?.() ?? null,
    };
    return snap;
  }

  restoreSnapshot(snapshot: EnvSnapshot): void {
    this.assertOpen();
    const s = snapshot as Partial<MujocoSnapshot>;
    if (s.kind !== 'mujoco' || s.id !== this.id || !s.qpos || !s.qvel || !s.act || !s.ctrl || !s.rng) {
      throw new EnvError(`${this.id}: snapshot is not a MuJoCo snapshot of this env (kind ${String(s.kind)}, id ${String(s.id)})`);
    }
    const p = this.physics;
    if (s.qpos.length !== p.qpos.length || s.qvel.length !== p.qvel.length) {
      throw new EnvError(`${this.id}: snapshot has ${s.qpos.length} qpos / ${s.qvel.length} qvel, model has ${p.qpos.length} / ${p.qvel.length}`);
    }
    if (s.task) this.bound.setState?.(s.task);
    p.qpos.set(s.qpos);
    p.qvel.set(s.qvel);
    p.act.set(s.act);
    p.ctrl.set(s.ctrl);
    if (s.warmstart) p.warmstart.set(s.warmstart);
    p.time = s.time ?? 0;
    p.forward();
    this.episodeStep = s.episodeStep ?? 0;
    this.rng = Rng.fromState(s.rng);
    this.needsReset = false;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.renderer.dispose();
    this.physics.dispose();
  }

  private assertOpen(): void {
    if (this.closed) throw new EnvError(`${this.id}: env is closed`);
  }
}
