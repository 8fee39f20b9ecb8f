/*
 * Planar walker: torso and two legs (thigh, leg, foot; six motors with gears
 * 100/50/20), 2.5 ms physics, 25 ms control steps. Walk: stay tall (torso
 * above 1.2 m) and upright while moving forward at 1 m/s or faster.
 */
import { tolerance } from '../rewards.js';
import { COMMON_ASSETS, type MujocoTask } from '../mujoco/task.js';

const XML = `
<mujoco model="walker">
  <size memory="2M"/>
  ${COMMON_ASSETS}
  <option timestep="0.0025"/>
  <default>
    <joint damping="0.1" armature="0.01" solimplimit="0 0.99 0.01"/>
    <geom contype="1" conaffinity="0" friction="0.7 0.1 0.1"/>
    <motor ctrlrange="-1 1" ctrllimited="true"/>
    <default class="limb">
      <geom type="capsule" material="self"/>
      <joint axis="0 -1 0"/>
    </default>
  </default>
  <worldbody>
    <geom name="floor" type="plane" conaffinity="1" pos="248 0 0" size="250 0.8 0.2" material="grid"/>
    <light name="sun" directional="true" pos="0 0 3" dir="0 0 -1" diffuse=".7 .7 .7"/>
    <body name="torso" pos="0 0 1.3" childclass="limb">
      <camera name="side" pos="0 -2 0.7" euler="60 0 0" mode="trackcom"/>
      <joint name="rootz" type="slide" axis="0 0 1" limited="false" armature="0" damping="0"/>
      <joint name="rootx" type="slide" axis="1 0 0" limited="false" armature="0" damping="0"/>
      <joint name="rooty" type="hinge" axis="0 1 0" limited="false" armature="0" damping="0"/>
      <geom name="torso" size="0.07 0.3"/>
      <body name="right_thigh" pos="0 -0.05 -0.3">
        <joint name="right_hip" range="-20 100"/>
        <geom name="right_thigh" pos="0 0 -0.225" size="0.05 0.225"/>
        <body name="right_leg" pos="0 0 -0.7">
          <joint name="right_knee" pos="0 0 0.25" range="-150 0"/>
          <geom name="right_leg" size="0.04 0.25"/>
          <body name="right_foot" pos="0.06 0 -0.25">
            <joint name="right_ankle" pos="-0.06 0 0" range="-45 45"/>
            <geom name="right_foot" zaxis="1 0 0" size="0.05 0.1"/>
          </body>
        </body>
      </body>
      <body name="left_thigh" pos="0 0.05 -0.3">
        <joint name="left_hip" range="-20 100"/>
        <geom name="left_thigh" pos="0 0 -0.225" size="0.05 0.225" material="effector"/>
        <body name="left_leg" pos="0 0 -0.7">
          <joint name="left_knee" pos="0 0 0.25" range="-150 0"/>
          <geom name="left_leg" size="0.04 0.25" material="effector"/>
          <body name="left_foot" pos="0.06 0 -0.25">
            <joint name="left_ankle" pos="-0.06 0 0" range="-45 45"/>
            <geom name="left_foot" zaxis="1 0 0" size="0.05 0.1" material="effector"/>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
  <sensor>
    <subtreelinvel name="torso_subtreelinvel" body="torso"/>
  </sensor>
  <actuator>
    <motor name="right_hip" joint="right_hip" gear="100"/>
    <motor name="right_knee" joint="right_knee" gear="50"/>
    <motor name="right_ankle" joint="right_ankle" gear="20"/>
    <motor name="left_hip" joint="left_hip" gear="100"/>
    <motor name="left_knee" joint="left_knee" gear="50"/>
    <motor name="left_ankle" joint="left_ankle" gear="20"/>
  </actuator>
</mujoco>`;

const STAND_HEIGHT = 1.2;
const WALK_SPEED = 1;

export const walkerWalk: MujocoTask = {
  id: 'walker-walk',
  description: 'stand up and walk forward at 1 m/s or faster (DMC walker/walk)',
  xml: XML,
  camera: 'side',
  controlTimestep: 0.025,
  episodeSteps: 1000,
  actionDim: 6,
  bind(p) {
    const torso = p.bodyId('torso');
    const velocity = p.sensorAdr('torso_subtreelinvel');
    return {
      initialize(rng) {
        // Includes the torso pitch (rooty, unlimited): episodes start at a random orientation, as in dm_control.
        p.randomizeJoints(rng);
      },
      reward() {
        const height = p.xpos[3 * torso + 2] as number;
        const standing = tolerance(height, { bounds: [STAND_HEIGHT, Infinity], margin: STAND_HEIGHT / 2 });
        const upright = (1 + p.bodyUpright(torso)) / 2;
        const stand = (3 * standing + upright) / 4;
        const move = tolerance(p.sensordata[velocity] as number, {
          bounds: [WALK_SPEED, Infinity],
          margin: WALK_SPEED / 2,
          valueAtMargin: 0.5,
          sigmoid: 'linear',
        });
        return (stand * (5 * move + 1)) / 6;
      },
    };
  },
};
