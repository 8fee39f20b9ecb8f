import type { MjData, MjModel } from '@mujoco/mujoco';
import type { MujocoModule } from './module.js';
import { MujocoModelError } from '../errors.js';
import type { Rng } from '../../src/core/rng.js';

// mjtJoint values, stable across MuJoCo versions.
const JNT_SLIDE = 2;
const JNT_HINGE = 3;

/**
 * A loaded model and its data with named lookups, the small subset of
 * dm_control's Physics the tasks need. Typed-array views into the wasm heap go
 * stale when the heap grows (for example when another MjData is created), so
 * every accessor re-reads the view instead of caching it.
 */
export class Physics {
  readonly model: MjModel;
  readonly data: MjData;
  private disposed = false;

  constructor(
    readonly mj: MujocoModule,
    xml: string,
    readonly name: string,
  ) {
    let model: MjModel;
    try {
      model = mj.MjModel.from_xml_string(xml);
    } catch (error) {
      // Some load errors arrive as bare numbers or empty messages; name the model either way.
      const detail = error instanceof Error ? error.message : String(error);
      throw new MujocoModelError(`MJCF model ${JSON.stringify(name)} failed to load: ${detail || '(no message from MuJoCo)'}`, { cause: error });
    }
    this.model = model;
    this.data = new mj.MjData(model);
  }

  get timestep(): number {
    return this.model.opt.timestep as number;
  }

  private id(type: 'body' | 'joint' | 'geom' | 'site' | 'sensor' | 'camera', name: string): number {
    const objs = this.mj.mjtObj;
    const kind = {
      body: objs.mjOBJ_BODY,
      joint: objs.mjOBJ_JOINT,
      geom: objs.mjOBJ_GEOM,
      site: objs.mjOBJ_SITE,
      sensor: objs.mjOBJ_SENSOR,
      camera: objs.mjOBJ_CAMERA,
    }[type];
    const id = this.mj.mj_name2id(this.model, kind.value, name);
    if (id < 0) throw new MujocoModelError(`model ${JSON.stringify(this.name)} has no ${type} named ${JSON.stringify(name)}`);
    return id;
  }

  bodyId(name: string): number {
    return this.id('body', name);
  }
  geomId(name: string): number {
    return this.id('geom', name);
  }
  siteId(name: string): number {
    return this.id('site', name);
  }
  cameraId(name: string): number {
    return this.id('camera', name);
  }
  /** Every joint: its name, kind and where its coordinates sit in qpos and qvel. */
  joints(): Array<{ name: string; kind: 'free' | 'ball' | 'slide' | 'hinge'; qposAdr: number; dofAdr: number }> {
    const kinds = ['free', 'ball', 'slide', 'hinge'] as const;
    const count = this.model.njnt as number;
    const jointObj = this.mj.mjtObj.mjOBJ_JOINT.value;
    return Array.from({ length: count }, (_, j) => ({
      name: this.mj.mj_id2name(this.model, jointObj, j) || `joint${j}`,
      kind: kinds[(this.model.jnt_type as Int32Array)[j] as number] ?? 'free',
      qposAdr: (this.model.jnt_qposadr as Int32Array)[j] as number,
      dofAdr: (this.model.jnt_dofadr as Int32Array)[j] as number,
    }));
  }

  jointQposAdr(name: string): number {
    return (this.model.jnt_qposadr as Int32Array)[this.id('joint', name)] as number;
  }
  jointDofAdr(name: string): number {
    return (this.model.jnt_dofadr as Int32Array)[this.id('joint', name)] as number;
  }
  sensorAdr(name: string): number {
    return (this.model.sensor_adr as Int32Array)[this.id('sensor', name)] as number;
  }

  get qpos(): Float64Array {
    return this.data.qpos as Float64Array;
  }
  get qvel(): Float64Array {
    return this.data.qvel as Float64Array;
  }
  get ctrl(): Float64Array {
    return this.data.ctrl as Float64Array;
  }
  get warmstart(): Float64Array {
    return this.data.qacc_warmstart as Float64Array;
  }
  get act(): Float64Array {
    return this.data.act as Float64Array;
  }
  get xpos(): Float64Array {
    return this.data.xpos as Float64Array;
  }
  get xmat(): Float64Array {
    return this.data.xmat as Float64Array;
  }
  get geomXpos(): Float64Array {
    return this.data.geom_xpos as Float64Array;
  }
  get siteXpos(): Float64Array {
    return this.data.site_xpos as Float64Array;
  }
  get sensordata(): Float64Array {
    return this.data.sensordata as Float64Array;
  }
  get ncon(): number {
    return this.data.ncon as number;
  }
  get time(): number {
    return this.data.time as number;
  }
  set time(t: number) {
    this.data.time = t;
  }

  /** World z-component of a body's local z axis: the cosine of its tilt from vertical. */
  bodyUpright(bodyId: number): number {
    return this.xmat[bodyId * 9 + 8] as number;
  }

  /**
   * mj_resetData, then kinematics of the reset pose, as dm_control's
   * Physics.reset does: a task that edits qpos and then steps with
   * stepLikeDmControl finishes its first step on these kinematics.
   */
  reset(): void {
    this.mj.mj_resetData(this.model, this.data);
    // dm_control runs this with actuation disabled; ctrl is 0 after a reset, so motors add nothing either way.
    this.mj.mj_forward(this.model, this.data);
  }
  step(): void {
    this.mj.mj_step(this.model, this.data);
  }

  /**
   * dm_control's Physics.step(nstep) (its default "legacy" step). It assumes
   * mj_step1 already ran for the current state, so for every integrator but
   * RK4 it starts with mj_step2: after the caller edits qpos without a
   * forward pass, the first step's forces come from the kinematics computed
   * before the edit (the reset pose, in dm_control's initialize_episode).
   * It ends with mj_step1 so positions and sensors match the new qpos.
   */
  stepLikeDmControl(nstep: number): void {
    if (!Number.isInteger(nstep) || nstep < 1) throw new RangeError(`stepLikeDmControl: nstep must be a positive integer, got ${nstep}`);
    const { mj, model, data } = this;
    if (Number(model.opt.integrator) === mj.mjtIntegrator.mjINT_RK4.value) {
      for (let i = 0; i < nstep; i++) mj.mj_step(model, data);
    } else {
      mj.mj_step2(model, data);
      for (let i = 1; i < nstep; i++) mj.mj_step(model, data);
    }
    mj.mj_step1(model, data);
  }
  /** Recomputes positions, contacts and sensors from qpos/qvel without integrating. */
  forward(): void {
    this.mj.mj_forward(this.model, this.data);
  }

  /**
   * dm_control's randomize_limited_and_rotational_joints for planar models:
   * limited hinges and slides uniform in their range, unlimited hinges uniform
   * in [-pi, pi), unlimited slides untouched. MuJoCo 3 marks a joint limited
   * when it has a range (autolimits), which is what we test here. With
   * `limitedOnly`, unlimited hinges are left alone too (dm_control's cheetah).
   */
  randomizeJoints(rng: Rng, options: { limitedOnly?: boolean } = {}): void {
    const types = this.model.jnt_type as Int32Array;
    const ranges = this.model.jnt_range as Float64Array;
    const adrs = this.model.jnt_qposadr as Int32Array;
    const qpos = this.qpos;
    for (let j = 0; j < types.length; j++) {
      const type = types[j];
      const lo = ranges[2 * j] as number;
      const hi = ranges[2 * j + 1] as number;
      const adr = adrs[j] as number;
      const limited = lo < hi;
      if (type === JNT_HINGE) {
        if (limited) qpos[adr] = lo + (hi - lo) * rng.uniform();
        else if (!options.limitedOnly) qpos[adr] = -Math.PI + 2 * Math.PI * rng.uniform();
      } else if (type === JNT_SLIDE && limited) {
        qpos[adr] = lo + (hi - lo) * rng.uniform();
      } else if (type !== JNT_SLIDE) {
        throw new MujocoModelError(`model ${JSON.stringify(this.name)}: joint ${j} has type ${type}; only planar models (hinge/slide) are supported`);
      }
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.data.delete();
    this.model.delete();
  }
}
