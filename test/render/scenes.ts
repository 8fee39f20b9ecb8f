// Small MJCF scenes for the renderer tests (written for these tests).

/**
 * A camera 5 m in front of the origin looking along +y; a red body on a free
 * joint. The head light is matte (MuJoCo's default adds a white highlight),
 * so lit red pixels keep green and blue at 0.
 */
export function frontScene(body: string): string {
  return `<mujoco><visual><headlight specular="0 0 0"/></visual><worldbody>
  <camera name="front" pos="0 -5 0" xyaxes="1 0 0 0 0 1" fovy="45"/>
  <body name="obj"><freejoint/>${body}</body>
</worldbody></mujoco>`;
}

/** One geom of every supported type on a checker floor, a light, and a tendon. */
export function allTypesScene(opts: { tendon?: boolean; hidden?: boolean } = {}): string {
  const tendon = opts.tendon ?? true;
  const hidden = opts.hidden ?? true;
  return `<mujoco>
<asset><texture name="grid" type="2d" builtin="checker" rgb1=".1 .2 .3" rgb2=".2 .3 .4" width="64" height="64"/>
<material name="grid" texture="grid" texrepeat="1 1" texuniform="true"/><material name="self" rgba=".7 .5 .3 1"/></asset>
<worldbody><light name="light" pos="0 0 6" dir="0 0 -1"/>
<geom name="floor" type="plane" size="3 3 .2" material="grid"/>
<camera name="fixed" pos="0 -4 2" xyaxes="1 0 0 0 0.45 1" fovy="45"/>
<geom name="box" type="box" pos="-1.2 0 0.3" size="0.3 0.2 0.3" euler="0 0 30" rgba="0.8 0.2 0.2 1"/>
<geom name="sphere" type="sphere" pos="-0.4 0 0.5" size="0.3" material="self"/>
<geom name="capsule" type="capsule" fromto="0.2 0 0.2 0.5 0 1.2" size="0.15" rgba="0.2 0.7 0.3 1"/>
<geom name="cylinder" type="cylinder" pos="1 0 0.3" size="0.25 0.3" euler="20 0 0" rgba="0.3 0.3 0.8 1"/>
<geom name="ellipsoid" type="ellipsoid" pos="1.7 0 0.6" size="0.2 0.3 0.5" euler="0 30 0" rgba="0.8 0.8 0.2 1"/>
${hidden ? `<geom name="alpha0" type="sphere" pos="0 -2 1.2" size="0.4" rgba="1 0 1 0"/>
<geom name="group3" type="box" pos="0.3 -2 1.0" size="0.3 0.3 0.3" group="3" rgba="1 0 1 1"/>` : ''}
<site name="s1" pos="-1.5 0.5 1.8"/><site name="s2" pos="1.5 0.5 1.4"/>
</worldbody>
${tendon ? '<tendon><spatial name="string" width="0.03" rgba=".9 .9 .9 1"><site site="s1"/><site site="s2"/></spatial></tendon>' : ''}
</mujoco>`;
}
