/*
 * Cart-pole: a 1 kg cart on a 3.6 m rail (slide limited to +-1.8 m) pushed by
 * a motor of gear 10, carrying an unactuated 1 m, 0.1 kg pole. RK4 at 10 ms,
 * one physics step per control step, 1000 steps (10 s).
 */
import { tolerance } from '../rewards.js';
import { COMMON_ASSETS, type MujocoTask } from '../mujoco/task.js';

const XML = `
<mujoco model="cartpole">
  <size memory="2M"/>
  <compiler angle="radian"/>
  ${COMMON_ASSETS}
  <option timestep="0.01" integrator="RK4">
    <flag contact="disable" energy="enable"/>
  </option>
  <worldbody>
    <light name="top" pos="0 0 6" dir="0 0 -1"/>
    <camera name="fixed" pos="0 -4 1" xyaxes="1 0 0 0 0 1" fovy="45"/>
    <geom name="floor" type="plane" pos="0 0 -0.05" size="4 4 0.2" material="grid"/>
    <geom name="rail_back" type="capsule" fromto="-2 0.07 1 2 0.07 1" size="0.02" material="decoration"/>
    <geom name="rail_front" type="capsule" fromto="-2 -0.07 1 2 -0.07 1" size="0.02" material="decoration"/>
    <body name="cart" pos="0 0 1">
      <joint name="slider" type="slide" axis="1 0 0" range="-1.8 1.8" solreflimit="0.08 1" damping="5e-4"/>
      <geom name="cart" type="box" size="0.2 0.15 0.1" material="self" mass="1"/>
      <body name="pole">
        <joint name="hinge" type="hinge" axis="0 1 0" damping="2e-6"/>
        <geom name="pole" type="capsule" fromto="0 0 0 0 0 1" size="0.045" material="self" mass="0.1"/>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor name="push" joint="slider" gear="10" ctrlrange="-1 1" ctrllimited="true"/>
  </actuator>
</mujoco>`;

function cartpole(swingUp: boolean): MujocoTask {
  return {
    id: swingUp ? 'cartpole-swingup' : 'cartpole-balance',
    description: swingUp
      ? 'swing the pole up from hanging down and balance it, cart near the centre (DMC cartpole/swingup)'
      : 'keep a nearly upright pole balanced, cart near the centre (DMC cartpole/balance)',
    xml: XML,
    camera: 'fixed',
    controlTimestep: 0.01,
    episodeSteps: 1000,
    actionDim: 1,
    bind(p) {
      const slider = p.jointQposAdr('slider');
      const hinge = p.jointQposAdr('hinge');
      const hingeDof = p.jointDofAdr('hinge');
      const pole = p.bodyId('pole');
      return {
        initialize(rng) {
          const qpos = p.qpos;
          if (swingUp) {
            qpos[slider] = 0.01 * rng.normal();
            qpos[hinge] = Math.PI + 0.01 * rng.normal();
          } else {
            qpos[slider] = -0.1 + 0.2 * rng.uniform();
            qpos[hinge] = -0.034 + 0.068 * rng.uniform();
          }
          const qvel = p.qvel;
          for (let i = 0; i < qvel.length; i++) qvel[i] = 0.01 * rng.normal();
        },
        reward() {
          // Smooth reward of dm_control's Balance task (sparse=false).
          const upright = (p.bodyUpright(pole) + 1) / 2;
          const centered = (1 + tolerance(p.qpos[slider] as number, { margin: 2 })) / 2;
          const control = tolerance(p.ctrl[0] as number, { margin: 1, valueAtMargin: 0, sigmoid: 'quadratic' });
          const smallControl = (4 + control) / 5;
          const smallVelocity = (1 + tolerance(p.qvel[hingeDof] as number, { margin: 5 })) / 2;
          return upright * smallControl * smallVelocity * centered;
        },
      };
    },
  };
}

export const cartpoleSwingup = cartpole(true);
export const cartpoleBalance = cartpole(false);
