import type { MjData, MjModel } from '@mujoco/mujoco';
import type { MujocoModule } from './module.js';

/** What a MuJoCo env needs from a renderer: HWC RGB uint8 frames of a model camera. */
export interface FrameRenderer {
  render(data: MjData, out?: Uint8Array): Uint8Array;
  dispose(): void;
}

export interface RendererOptions {
  width: number;
  height: number;
  camera?: string | number;
}

export type RendererFactory = (mj: MujocoModule, model: MjModel, options: RendererOptions) => FrameRenderer;

interface RenderModule {
  Renderer: new (mj: MujocoModule, model: MjModel, options: RendererOptions) => FrameRenderer;
}

let loading: Promise<RendererFactory> | undefined;

/** The project's ray-casting renderer (envs/render/), loaded on first use. */
export function defaultRendererFactory(): Promise<RendererFactory> {
  // A computed specifier keeps this file independent of the renderer's own types.
  const specifier = '../render/index.js';
  loading ??= (import(specifier) as Promise<RenderModule>).then(
    (m) => (mj, model, options) => new m.Renderer(mj, model, options),
  );
  return loading;
}
