/*
 * Ball in cup: a planar cup on two sprung slide joints (x, z; motors of gear
 * 5) with a ball tied to its bottom by a 0.3 m string (a length-limited
 * tendon). 2 ms physics, 20 ms control steps. Catch: reward 1 while the ball
 * centre is inside the cup's target box shrunk by the ball radius.
 */
import { MujocoModelError } from '../errors.js';
import { COMMON_ASSETS, type MujocoTask } from '../mujoco/task.js';

const BALL_RADIUS = 0.025;
const TARGET_HALF = 0.05;

const XML = `
<mujoco model="ball_in_cup">
  <size memory="2M"/>
  ${COMMON_ASSETS}
  <option timestep="0.002"/>
  <default>
    <motor ctrlrange="-1 1" ctrllimited="true" gear="5"/>
    <default class="cup">
      <joint type="slide" damping="3" stiffness="20"/>
      <geom type="capsule" size="0.008" material="self"/>
    </default>
  </default>
  <worldbody>
    <light name="sun" directional="true" diffuse=".6 .6 .6" pos="0 0 2" dir="0 0 -1"/>
    <geom name="ground" type="plane" size="0.6 0.2 10" material="grid"/>
    <camera name="front" pos="0 -1 0.8" xyaxes="1 0 0 0 1 2"/>
    <body name="cup" pos="0 0 0.6" childclass="cup">
      <joint name="cup_x" axis="1 0 0"/>
      <joint name="cup_z" axis="0 0 1"/>
      <geom name="cup_left" fromto="-0.05 0 0 -0.05 0 -0.075"/>
      <geom name="cup_left_base" fromto="-0.05 0 -0.075 -0.025 0 -0.1"/>
      <geom name="cup_base" fromto="-0.025 0 -0.1 0.025 0 -0.1"/>
      <geom name="cup_right_base" fromto="0.025 0 -0.1 0.05 0 -0.075"/>
      <geom name="cup_right" fromto="0.05 0 -0.075 0.05 0 0"/>
      <site name="cup_anchor" pos="0 0 -0.108" size="0.005"/>
      <site name="target" type="box" pos="0 0 -0.05" size="${TARGET_HALF} 0.006 ${TARGET_HALF}" group="4"/>
    </body>
    <body name="ball" pos="0 0 0.2">
      <joint name="ball_x" type="slide" axis="1 0 0"/>
      <joint name="ball_z" type="slide" axis="0 0 1"/>
      <geom name="ball" type="sphere" size="${BALL_RADIUS}" material="effector"/>
      <site name="ball_anchor" size="0.005"/>
    </body>
  </worldbody>
  <tendon>
    <spatial name="string" range="0 0.3" width="0.003">
      <site site="ball_anchor"/>
      <site site="cup_anchor"/>
    </spatial>
  </tendon>
  <actuator>
    <motor name="x" joint="cup_x"/>
    <motor name="z" joint="cup_z"/>
  </actuator>
</mujoco>`;

const MAX_ATTEMPTS = 1000;

export const ballInCupCatch: MujocoTask = {
  id: 'ball_in_cup-catch',
  description: 'swing the ball on its string into the cup (DMC ball_in_cup/catch)',
  xml: XML,
  camera: 'front',
  controlTimestep: 0.02,
  episodeSteps: 1000,
  actionDim: 2,
  bind(p) {
    const ballX = p.jointQposAdr('ball_x');
    const ballZ = p.jointQposAdr('ball_z');
    const ball = p.bodyId('ball');
    const target = p.siteId('target');
    return {
      initialize(rng) {
        for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
          p.qpos[ballX] = -0.2 + 0.4 * rng.uniform();
          p.qpos[ballZ] = 0.2 + 0.3 * rng.uniform();
          p.forward();
          if (p.ncon === 0) return;
        }
        throw new MujocoModelError(`ball_in_cup-catch: no collision-free ball position after ${MAX_ATTEMPTS} attempts`);
      },
      reward() {
        const s = p.siteXpos;
        const b = p.xpos;
        const dx = Math.abs((s[3 * target] as number) - (b[3 * ball] as number));
        const dz = Math.abs((s[3 * target + 2] as number) - (b[3 * ball + 2] as number));
        const inside = TARGET_HALF - BALL_RADIUS;
        return dx < inside && dz < inside ? 1 : 0;
      },
    };
  },
};
