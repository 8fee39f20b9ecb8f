/*
 * Surface colours: MuJoCo's rule for geom rgba versus material rgba, and the
 * 2D textures (the checker floor) that planes sample.
 */
import { field, type MjModel } from './mujoco.js';

/** mjTEXROLE_RGB: the slot of mat_texid holding a material's colour texture. */
const TEXROLE_RGB = 1;
/** mjTEXTURE_2D */
const TEXTURE_2D = 0;

/**
 * Where the colour MuJoCo draws lives: an explicit geom/tendon rgba overrides
 * its material, and the default (0.5, 0.5, 0.5, 1) means "unset", so the
 * material colour shows. Returns the offset into ownRgba (>= 0), or
 * -1 - offset into the material rgba; a number, so per-frame use allocates nothing.
 */
export function pickRgba(ownRgba: Float32Array, i: number, matid: number): number {
  const o = 4 * i;
  if (
    matid >= 0 &&
    ownRgba[o] === 0.5 && ownRgba[o + 1] === 0.5 && ownRgba[o + 2] === 0.5 && ownRgba[o + 3] === 1
  ) {
    return -1 - 4 * matid;
  }
  return o;
}

/** An RGB texture copied out of wasm memory (textures never change at run time). */
export interface Texture {
  readonly width: number;
  readonly height: number;
  /** RGB in 0..1, row-major, 3 values per texel (pre-scaled for shading). */
  readonly rgb: Float32Array;
  /** Texture repeats per metre (texuniform) or across the plane (otherwise). */
  readonly repeatX: number;
  readonly repeatY: number;
  readonly uniform: boolean;
}

/** The 2D colour texture of each material, or null where it has none. */
export function loadMaterialTextures(model: MjModel): (Texture | null)[] {
  const nmat = model.nmat;
  const result: (Texture | null)[] = new Array<Texture | null>(nmat).fill(null);
  if (nmat === 0 || model.ntex === 0) return result;
  const texid = field(model, 'mat_texid', Int32Array);
  const roles = texid.length / nmat;
  const repeat = field(model, 'mat_texrepeat', Float32Array);
  const texType = field(model, 'tex_type', Int32Array);
  const texW = field(model, 'tex_width', Int32Array);
  const texH = field(model, 'tex_height', Int32Array);
  const texC = field(model, 'tex_nchannel', Int32Array);
  const texAdr = field(model, 'tex_adr', Int32Array);
  const cache = new Map<number, Float32Array>();
  for (let m = 0; m < nmat; m++) {
    const t = texid[m * roles + TEXROLE_RGB] ?? -1;
    if (t < 0 || texType[t] !== TEXTURE_2D) continue;
    const w = texW[t] ?? 0, h = texH[t] ?? 0, nc = texC[t] ?? 0;
    if (w <= 0 || h <= 0 || nc < 3) continue;
    let rgb = cache.get(t);
    if (rgb === undefined) {
      // Re-read tex_data per texture: it is large and a view may go stale.
      const data = field(model, 'tex_data', Uint8Array);
      const adr = texAdr[t] ?? 0;
      rgb = new Float32Array(w * h * 3);
      for (let p = 0; p < w * h; p++) {
        rgb[3 * p] = (data[adr + nc * p] ?? 0) / 255;
        rgb[3 * p + 1] = (data[adr + nc * p + 1] ?? 0) / 255;
        rgb[3 * p + 2] = (data[adr + nc * p + 2] ?? 0) / 255;
      }
      cache.set(t, rgb);
    }
    result[m] = {
      width: w, height: h, rgb,
      repeatX: repeat[2 * m] ?? 1, repeatY: repeat[2 * m + 1] ?? 1,
      uniform: readTexUniform(model, m),
    };
  }
  return result;
}

/**
 * mat_texuniform is a bool array, which this binding cannot hand out as a
 * view (it throws), so read it through the per-material accessor.
 */
function readTexUniform(model: MjModel, mat: number): boolean {
  const acc = model.mat(mat);
  try {
    const v: unknown = acc.texuniform;
    if (ArrayBuffer.isView(v)) return ((v as Uint8Array)[0] ?? 0) !== 0;
    return Boolean(v);
  } finally {
    acc.delete();
  }
}
