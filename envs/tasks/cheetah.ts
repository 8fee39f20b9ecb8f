/*
 * Half-cheetah: a planar 14 kg runner (torso capsule with head, two legs of
 * thigh/shin/foot, six motors) on an endless floor, 10 ms steps. Run: reward
 * rises linearly with forward speed and saturates at 10 m/s.
 */
import { tolerance } from '../rewards.js';
import { COMMON_ASSETS, type MujocoTask } from '../mujoco/task.js';

const XML = `
<mujoco model="cheetah">
  <size memory="2M"/>
  ${COMMON_ASSETS}
  <compiler settotalmass="14"/>
  <option timestep="0.01"/>
  <default>
    <default class="body">
      <joint type="hinge" axis="0 1 0" damping="0.01" armature="0.1" stiffness="8"/>
      <geom type="capsule" contype="1" conaffinity="1" condim="3" friction="0.4 0.1 0.1" material="self"/>
    </default>
    <default class="root">
      <joint damping="0" armature="0" stiffness="0"/>
    </default>
    <motor ctrlrange="-1 1" ctrllimited="true"/>
  </default>
  <worldbody>
    <geom name="ground" type="plane" conaffinity="1" pos="98 0 0" size="100 1.25 0.5" material="grid"/>
    <light name="sun" directional="true" pos="0 0 3" dir="0 0 -1" diffuse=".7 .7 .7"/>
    <body name="torso" pos="0 0 0.7" childclass="body">
      <camera name="side" pos="0 -3 0" xyaxes="1 0 0 0 0 1" mode="trackcom"/>
      <joint name="rootx" type="slide" axis="1 0 0" class="root"/>
      <joint name="rootz" type="slide" axis="0 0 1" class="root"/>
      <joint name="rooty" type="hinge" axis="0 1 0" class="root"/>
      <geom name="torso" fromto="-0.5 0 0 0.5 0 0" size="0.046"/>
      <geom name="head" pos="0.6 0 0.1" euler="0 50 0" size="0.046 0.15"/>
      <body name="bthigh" pos="-0.5 0 0">
        <joint name="bthigh" range="-30 60" stiffness="240" damping="6"/>
        <geom name="bthigh" pos="0.1 0 -0.13" euler="0 -218 0" size="0.046 0.145"/>
        <body name="bshin" pos="0.16 0 -0.25">
          <joint name="bshin" range="-50 50" stiffness="180" damping="4.5"/>
          <geom name="bshin" pos="-0.14 0 -0.07" euler="0 -116 0" size="0.046 0.15" material="effector"/>
          <body name="bfoot" pos="-0.28 0 -0.14">
            <joint name="bfoot" range="-230 50" stiffness="120" damping="3"/>
            <geom name="bfoot" pos="0.03 0 -0.097" euler="0 -15 0" size="0.046 0.094" material="effector"/>
          </body>
        </body>
      </body>
      <body name="fthigh" pos="0.5 0 0">
        <joint name="fthigh" range="-57 0.4" stiffness="180" damping="4.5"/>
        <geom name="fthigh" pos="-0.07 0 -0.12" euler="0 30 0" size="0.046 0.133"/>
        <body name="fshin" pos="-0.14 0 -0.24">
          <joint name="fshin" range="-70 50" stiffness="120" damping="3"/>
          <geom name="fshin" pos="0.065 0 -0.09" euler="0 -34 0" size="0.046 0.106" material="effector"/>
          <body name="ffoot" pos="0.13 0 -0.18">
            <joint name="ffoot" range="-28 28" stiffness="60" damping="1.5"/>
            <geom name="ffoot" pos="0.045 0 -0.07" euler="0 -34 0" size="0.046 0.07" material="effector"/>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
  <sensor>
    <subtreelinvel name="torso_subtreelinvel" body="torso"/>
  </sensor>
  <actuator>
    <motor name="bthigh" joint="bthigh" gear="120"/>
    <motor name="bshin" joint="bshin" gear="90"/>
    <motor name="bfoot" joint="bfoot" gear="60"/>
    <motor name="fthigh" joint="fthigh" gear="90"/>
    <motor name="fshin" joint="fshin" gear="60"/>
    <motor name="ffoot" joint="ffoot" gear="30"/>
  </actuator>
</mujoco>`;

const RUN_SPEED = 10;
/** dm_control lets the randomly posed cheetah settle for 200 physics steps before the episode starts. */
const SETTLE_STEPS = 200;

export const cheetahRun: MujocoTask = {
  id: 'cheetah-run',
  description: 'run forward as fast as possible, reward saturating at 10 m/s (DMC cheetah/run)',
  xml: XML,
  camera: 'side',
  controlTimestep: 0.01,
  episodeSteps: 1000,
  actionDim: 6,
  bind(p) {
    const speed = p.sensorAdr('torso_subtreelinvel');
    return {
      initialize(rng) {
        // Leg joints only: the torso starts level (dm_control leaves the unlimited root alone here).
        p.randomizeJoints(rng, { limitedOnly: true });
        // Not p.step(): dm_control's first settling step uses the reset pose's kinematics
        // (no forward pass after the joints are set), and the settled state depends on it.
        p.stepLikeDmControl(SETTLE_STEPS);
      },
      reward() {
        return tolerance(p.sensordata[speed] as number, {
          bounds: [RUN_SPEED, Infinity],
          margin: RUN_SPEED,
          valueAtMargin: 0,
          sigmoid: 'linear',
        });
      },
    };
  },
};
