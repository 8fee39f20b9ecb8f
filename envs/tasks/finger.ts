/*
 * Finger: a planar two-link finger (proximal gear 30, distal gear 15) beside a
 * free-spinning two-capsule body on a hinge, no gravity, 10 ms physics and
 * 20 ms control steps. Spin: reward 1 while the body turns faster than
 * 15 rad/s in the negative hinge direction.
 */
import { MujocoModelError } from '../errors.js';
import { COMMON_ASSETS, type MujocoTask } from '../mujoco/task.js';

const XML = `
<mujoco model="finger">
  <size memory="2M"/>
  ${COMMON_ASSETS}
  <option timestep="0.01" cone="elliptic" iterations="200">
    <flag gravity="disable"/>
  </option>
  <default>
    <geom solimp="0 0.9 0.01" solref="0.02 1"/>
    <joint type="hinge" axis="0 -1 0"/>
    <default class="link">
      <joint damping="2.5"/>
    </default>
  </default>
  <worldbody>
    <light name="sun" directional="true" diffuse=".6 .6 .6" pos="0 0 2" dir="0 0 -1"/>
    <geom name="ground" type="plane" size="0.6 0.2 10" material="grid"/>
    <camera name="front" pos="0 -1 0.8" xyaxes="1 0 0 0 1 2"/>
    <body name="proximal" pos="-0.2 0 0.4" childclass="link">
      <joint name="proximal" range="-110 110" ref="-90"/>
      <geom name="proximal_hub" type="cylinder" fromto="0 -0.033 0 0 0.033 0" size="0.034" material="decoration"/>
      <geom name="proximal" type="capsule" fromto="0 0 0 0 0 -0.17" size="0.03" material="self"/>
      <body name="distal" pos="0 0 -0.18">
        <joint name="distal" range="-110 110"/>
        <geom name="distal" type="capsule" fromto="0 0 0 0 0 -0.16" size="0.028" material="self" contype="0" conaffinity="0"/>
        <geom name="fingertip" type="capsule" fromto="0 0 -0.13 0 0 -0.161" size="0.03" material="effector"/>
      </body>
    </body>
    <body name="spinner" pos="0.2 0 0.4">
      <joint name="hinge" frictionloss="0.1" damping="0.03"/>
      <geom name="cap1" type="capsule" size="0.04 0.09" pos="0.02 0 0" material="self"/>
      <geom name="cap2" type="capsule" size="0.04 0.09" pos="-0.02 0 0" material="self"/>
      <geom name="spinner_hub" type="cylinder" fromto="0 -0.045 0 0 0.045 0" size="0.02" material="decoration"/>
    </body>
  </worldbody>
  <actuator>
    <motor name="proximal" joint="proximal" gear="30" ctrlrange="-1 1" ctrllimited="true"/>
    <motor name="distal" joint="distal" gear="15" ctrlrange="-1 1" ctrllimited="true"/>
  </actuator>
</mujoco>`;

const SPIN_VELOCITY = 15;
const MAX_ATTEMPTS = 1000;

export const fingerSpin: MujocoTask = {
  id: 'finger-spin',
  description: 'spin the hinged body with the finger faster than 15 rad/s (DMC finger/spin)',
  xml: XML,
  camera: 'front',
  controlTimestep: 0.02,
  episodeSteps: 1000,
  actionDim: 2,
  bind(p) {
    const hingeDof = p.jointDofAdr('hinge');
    return {
      initialize(rng) {
        // Like dm_control: redraw joint angles until the finger does not touch the spinner.
        for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
          p.randomizeJoints(rng);
          p.forward();
          if (p.ncon === 0) return;
        }
        throw new MujocoModelError(`finger-spin: no collision-free initial state after ${MAX_ATTEMPTS} attempts`);
      },
      reward() {
        return (p.qvel[hingeDof] as number) <= -SPIN_VELOCITY ? 1 : 0;
      },
    };
  },
};
