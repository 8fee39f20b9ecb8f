// Pendulum: a 1 kg point mass on a 0.5 m massless rod, torque-limited motor (gear 1), 20 ms steps.
import { tolerance } from '../rewards.js';
import { COMMON_ASSETS, type MujocoTask } from '../mujoco/task.js';

const XML = `
<mujoco model="pendulum">
  <size memory="2M"/>
  ${COMMON_ASSETS}
  <option timestep="0.02">
    <flag contact="disable" energy="enable"/>
  </option>
  <worldbody>
    <light name="top" pos="0 0 2" dir="0 0 -1"/>
    <geom name="floor" type="plane" size="2.5 2.5 0.2" material="grid"/>
    <camera name="fixed" pos="0 -1.5 2" xyaxes="1 0 0 0 1 1"/>
    <body name="pole" pos="0 0 0.6">
      <joint name="hinge" type="hinge" axis="0 1 0" damping="0.1"/>
      <geom name="base" type="cylinder" fromto="0 -0.03 0 0 0.03 0" size="0.021" material="decoration" mass="0"/>
      <geom name="rod" type="capsule" fromto="0 0 0 0 0 0.5" size="0.02" material="self" mass="0"/>
      <geom name="bob" type="sphere" pos="0 0 0.5" size="0.05" material="effector" mass="1"/>
    </body>
  </worldbody>
  <actuator>
    <motor name="torque" joint="hinge" gear="1" ctrlrange="-1 1" ctrllimited="true"/>
  </actuator>
</mujoco>`;

/** dm_control's _ANGLE_BOUND: the pole pays only within 8 degrees of upright. */
const ANGLE_BOUND_DEG = 8;
const COS_BOUND = Math.cos((ANGLE_BOUND_DEG * Math.PI) / 180);

export const pendulumSwingup: MujocoTask = {
  id: 'pendulum-swingup',
  description: 'swing a torque-limited pendulum up and hold it within 8 degrees of vertical (DMC pendulum/swingup)',
  xml: XML,
  camera: 'fixed',
  controlTimestep: 0.02,
  episodeSteps: 1000,
  actionDim: 1,
  bind(p) {
    const hinge = p.jointQposAdr('hinge');
    const pole = p.bodyId('pole');
    return {
      initialize(rng) {
        p.qpos[hinge] = -Math.PI + 2 * Math.PI * rng.uniform();
      },
      reward() {
        return tolerance(p.bodyUpright(pole), { bounds: [COS_BOUND, 1] });
      },
    };
  },
};
