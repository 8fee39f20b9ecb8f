/*
 * Reacher: a planar two-link arm (0.12 m + 0.12 m, motors of gear 0.05) seen
 * from above, 20 ms steps. Easy: target radius 0.05 m; reward 1 while the
 * fingertip is within target + finger radius of the target centre.
 */
import { tolerance } from '../rewards.js';
import { COMMON_ASSETS, type MujocoTask } from '../mujoco/task.js';

const TARGET_SIZE = 0.05;
const FINGER_SIZE = 0.01;

const XML = `
<mujoco model="reacher">
  <size memory="2M"/>
  ${COMMON_ASSETS}
  <option timestep="0.02">
    <flag contact="disable"/>
  </option>
  <default>
    <joint type="hinge" axis="0 0 1" damping="0.01"/>
    <motor gear="0.05" ctrlrange="-1 1" ctrllimited="true"/>
  </default>
  <worldbody>
    <light name="top" pos="0 0 1" dir="0 0 -1"/>
    <camera name="top" pos="0 0 0.75" xyaxes="1 0 0 0 1 0"/>
    <geom name="ground" type="plane" size="0.625 0.625 10" material="grid"/>
    <!-- dm_control's walls are one-sided 0.3 x 0.02 planes facing inwards; 2 mm boxes whose inner faces
         lie on those planes look the same from the top camera (a plane seen from above would be a thick
         lit top face), and contacts are off in this model either way. -->
    <geom name="wall_px" type="box" pos="0.301 0 0.02" size="0.001 0.3 0.02" material="decoration" contype="0" conaffinity="0"/>
    <geom name="wall_nx" type="box" pos="-0.301 0 0.02" size="0.001 0.3 0.02" material="decoration" contype="0" conaffinity="0"/>
    <geom name="wall_py" type="box" pos="0 0.301 0.02" size="0.3 0.001 0.02" material="decoration" contype="0" conaffinity="0"/>
    <geom name="wall_ny" type="box" pos="0 -0.301 0.02" size="0.3 0.001 0.02" material="decoration" contype="0" conaffinity="0"/>
    <geom name="root" type="cylinder" fromto="0 0 0 0 0 0.02" size="0.011" material="decoration"/>
    <body name="arm" pos="0 0 0.01">
      <joint name="shoulder"/>
      <geom name="arm" type="capsule" fromto="0 0 0 0.12 0 0" size="0.01" material="self"/>
      <body name="hand" pos="0.12 0 0">
        <joint name="wrist" range="-160 160"/>
        <geom name="hand" type="capsule" fromto="0 0 0 0.1 0 0" size="0.01" material="self"/>
        <body name="finger" pos="0.12 0 0">
          <geom name="finger" type="sphere" size="${FINGER_SIZE}" material="effector"/>
        </body>
      </body>
    </body>
    <geom name="target" type="sphere" pos="0 0 0.01" size="${TARGET_SIZE}" material="target"/>
  </worldbody>
  <actuator>
    <motor name="shoulder" joint="shoulder"/>
    <motor name="wrist" joint="wrist"/>
  </actuator>
</mujoco>`;

export const reacherEasy: MujocoTask = {
  id: 'reacher-easy',
  description: 'move the two-link arm so its fingertip touches a large random target (DMC reacher/easy)',
  xml: XML,
  camera: 'top',
  controlTimestep: 0.02,
  episodeSteps: 1000,
  actionDim: 2,
  bind(p) {
    const target = p.geomId('target');
    const finger = p.geomId('finger');
    // The target is a world geom: its position lives in the model, not in qpos.
    const setTarget = (x: number, y: number): void => {
      const pos = p.model.geom_pos as Float64Array;
      pos[3 * target] = x;
      pos[3 * target + 1] = y;
    };
    return {
      initialize(rng) {
        p.randomizeJoints(rng);
        const angle = 2 * Math.PI * rng.uniform();
        const radius = 0.05 + 0.15 * rng.uniform();
        setTarget(radius * Math.sin(angle), radius * Math.cos(angle));
      },
      reward() {
        const g = p.geomXpos;
        const dx = (g[3 * target] as number) - (g[3 * finger] as number);
        const dy = (g[3 * target + 1] as number) - (g[3 * finger + 1] as number);
        const dz = (g[3 * target + 2] as number) - (g[3 * finger + 2] as number);
        return tolerance(Math.hypot(dx, dy, dz), { bounds: [0, TARGET_SIZE + FINGER_SIZE] });
      },
      getState() {
        const pos = p.model.geom_pos as Float64Array;
        return { target: [pos[3 * target] as number, pos[3 * target + 1] as number] };
      },
      setState(state) {
        const t = state['target'];
        if (Array.isArray(t) && t.length === 2) setTarget(t[0] as number, t[1] as number);
      },
    };
  },
};
