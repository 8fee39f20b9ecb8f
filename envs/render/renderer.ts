/*
 * CPU ray caster for MuJoCo scenes: one primary ray per pixel from a model
 * camera against the visible geoms and tendons, lit as MuJoCo's OpenGL
 * renderer lights them (head light along the view, model lights as
 * directional, ambient + diffuse + Blinn-Phong specular with a local viewer,
 * textures modulating the clamped lighting), one hard shadow ray, textured
 * floors mapped as MuJoCo maps them, and the model's skybox. Pure double
 * arithmetic in a fixed order, so the same state gives the same bytes.
 */
import { FREE_CAMERA, freeCameraPose, pixelCoords, resolveCamera, type CameraPose } from './camera.js';
import { RenderError } from './errors.js';
import { GEOM_PLANE, isSupportedGeom, localHalfExtents, localNormal, rayPrimitive } from './intersect.js';
import { loadMaterialTextures, pickRgba, type Texture } from './materials.js';
import { field, type MjData, type MjModel, type MujocoModule } from './mujoco.js';
import {
  P_CHECK, P_COLOR, P_FL, P_GEOM, P_I0, P_I1, P_J0, P_J1, P_LL, P_MAT, P_OL, P_POS, P_RAD, P_RL, P_SHINE, P_SIZE, P_SPEC,
  P_SPECCUT2, P_TEX, P_TEXSX, P_TEXSY, P_TYPE, P_UL, PrimitiveTable, STRIDE, boundingRadius, prepareForCamera, writeSegment,
  type FrameCamera,
} from './scene.js';
import { findSkybox, skyboxTexel, type Skybox } from './sky.js';

export interface RenderOptions {
  width: number;
  height: number;
  /** Model camera name or id; default camera 0 if any, else MuJoCo's default free view (also id -1). */
  camera?: string | number;
  /** One hard shadow ray towards the first light per lit pixel (default true). */
  shadows?: boolean;
}

/** Geom groups at or above this are hidden, as in MuJoCo's default viewer. */
const FIRST_HIDDEN_GROUP = 3;
/** Brightness of the darker squares of a procedural checker floor. */
const CHECKER_DARK = 0.75;
/** Sky colours (linear 0..1) for models without a skybox: zenith, horizon, and below the horizon. */
const SKY_TOP = [0.32, 0.5, 0.72] as const;
const SKY_HORIZON = [0.72, 0.82, 0.92] as const;
const SKY_GROUND = [0.28, 0.3, 0.34] as const;
/** Start shadow rays this far (metres) off the surface to skip touching neighbours' rounding. */
const SHADOW_T_MIN = 1e-7;
/** MuJoCo's material defaults, which geoms and tendons without a material get. */
const DEFAULT_SPECULAR = 0.5;
const DEFAULT_SHININESS = 0.5;

export class Renderer {
  readonly width: number;
  readonly height: number;
  /** Resolved camera id, or -1 for the default free view. */
  readonly cameraId: number;
  /** Geoms of a type this renderer does not draw (mesh, hfield, sdf); they are skipped. */
  readonly unsupportedGeoms: readonly number[];

  private readonly model: MjModel;
  private readonly shadows: boolean;
  private readonly geomType: Int32Array;
  private readonly textures: (Texture | null)[];
  private readonly uCol: Float64Array;
  private readonly vRow: Float64Array;
  private readonly tanHalf: number;
  /** 1 / |ray direction| per pixel: sqrt(u^2 + v^2 + 1), as the camera basis is orthonormal. */
  private readonly invLen: Float64Array;
  private readonly freePose: CameraPose | null;
  private readonly headAmbient: number;
  private readonly headDiffuse: number;
  private readonly headSpecular: number;
  /** Largest specular strength of any light, for the per-primitive highlight cut-off. */
  private readonly maxLightSpecular: number;
  private readonly skybox: Skybox | null;
  /** Lights shaded (at least the fallback one); fixed by the model. */
  private readonly nLights: number;
  private readonly modelLights: number;
  private readonly nTendons: number;
  /** Sky pixels depend only on the camera's orientation: cached per orientation. */
  private skyImage: Uint8Array;
  private readonly skyMat = new Float64Array(9).fill(NaN);
  /** Per primitive, its light-space bounds: [a0, a1, b0, b1, hmax] (see shadowBounds). */
  private shadowBox: Float64Array;
  private readonly lightBasis = new Float64Array(6);
  private table: PrimitiveTable;
  private active: Int32Array;
  private rowDir: Float64Array;
  private lightDir: Float64Array;
  private lightDiffuse: Float64Array;
  private lightSpecular: Float64Array;
  /** Per light: its direction dotted with the camera's right, up and forward axes, this frame. */
  private lightCam: Float64Array;
  private litScratch: Float64Array;
  private readonly normal = new Float64Array(3);
  private readonly cam: FrameCamera;
  private disposed = false;

  constructor(_mj: MujocoModule, model: MjModel, options: RenderOptions) {
    const { width, height } = options;
    for (const [name, v] of [['width', width], ['height', height]] as const) {
      if (!Number.isInteger(v) || v < 1 || v > 16384) {
        throw new RenderError(`RenderOptions.${name} must be an integer in [1, 16384], got ${String(v)}`);
      }
    }
    this.width = width;
    this.height = height;
    this.model = model;
    this.shadows = options.shadows ?? true;
    this.cameraId = resolveCamera(model, options.camera);
    this.freePose = this.cameraId === FREE_CAMERA ? freeCameraPose(model) : null;
    const fovy = this.freePose?.fovy ?? field(model, 'cam_fovy', Float64Array)[this.cameraId] ?? 45;
    const px = pixelCoords(width, height, fovy);
    this.uCol = px.uCol;
    this.vRow = px.vRow;
    this.tanHalf = px.tanHalf;
    this.invLen = new Float64Array(width * height);
    for (let i = 0; i < height; i++) {
      for (let j = 0; j < width; j++) {
        const u = this.uCol[j]!, v = this.vRow[i]!;
        this.invLen[i * width + j] = 1 / Math.sqrt(u * u + v * v + 1);
      }
    }

    this.geomType = field(model, 'geom_type', Int32Array).slice();
    const unsupported: number[] = [];
    this.geomType.forEach((t, g) => { if (!isSupportedGeom(t)) unsupported.push(g); });
    this.unsupportedGeoms = unsupported;
    this.textures = loadMaterialTextures(model);

    const head = model.vis.headlight;
    const active = Number(head.active) !== 0;
    this.headAmbient = active ? mean3(head.ambient as Float32Array) : 0;
    this.headDiffuse = active ? mean3(head.diffuse as Float32Array) : 0;
    this.headSpecular = active ? mean3(head.specular as Float32Array) : 0;
    this.skybox = findSkybox(model);

    this.modelLights = model.nlight;
    this.nTendons = model.ntendon;
    const nl = Math.max(1, this.modelLights);
    this.nLights = nl;
    this.skyImage = new Uint8Array(width * height * 3);
    this.lightDir = new Float64Array(3 * nl);
    this.lightDiffuse = new Float64Array(3 * nl);
    this.lightSpecular = new Float64Array(nl);
    this.lightCam = new Float64Array(3 * nl);
    this.litScratch = new Float64Array(2 * nl);
    let maxSpec = this.headSpecular;
    if (this.modelLights > 0) {
      const spec = field(model, 'light_specular', Float32Array);
      for (let l = 0; l < this.modelLights; l++) {
        this.lightSpecular[l] = (spec[3 * l]! + spec[3 * l + 1]! + spec[3 * l + 2]!) / 3;
        maxSpec = Math.max(maxSpec, this.lightSpecular[l]!);
      }
    }
    this.maxLightSpecular = maxSpec;
    this.table = new PrimitiveTable(model.ngeom + 8);
    this.active = new Int32Array(this.table.data.length / STRIDE);
    this.rowDir = new Float64Array(this.active.length * 3);
    this.shadowBox = new Float64Array(this.active.length * 5);
    this.cam = {
      px: 0, py: 0, pz: 0, rx: 1, ry: 0, rz: 0, ux: 0, uy: 1, uz: 0, fx: 0, fy: 0, fz: -1,
      tanHalf: this.tanHalf, aspect: width / height, width, height,
    };
  }

  /**
   * Draws the state in `data` (after mj_forward/mj_step) into `out` as HWC RGB
   * bytes, row 0 at the top, and returns it. Allocates a new buffer when `out`
   * is omitted.
   */
  render(data: MjData, out?: Uint8Array): Uint8Array {
    const n = this.width * this.height * 3;
    if (out !== undefined && out.length !== n) {
      throw new RenderError(`out buffer has ${out.length} bytes, expected width*height*3 = ${this.width}*${this.height}*3 = ${n}`);
    }
    const img = out ?? new Uint8Array(n);
    this.trace(data, img, null, null);
    return img;
  }

  /**
   * Per pixel (row-major, row 0 at the top): the distance in metres from the
   * camera to the first visible surface (Infinity for sky), and optionally the
   * id of the geom hit (-1 for sky, -2 for a tendon). For tests and picking.
   */
  renderDepth(data: MjData, depth?: Float64Array, geomIds?: Int32Array): Float64Array {
    const n = this.width * this.height;
    if (depth !== undefined && depth.length !== n) {
      throw new RenderError(`depth buffer has ${depth.length} entries, expected width*height = ${n}`);
    }
    if (geomIds !== undefined && geomIds.length !== n) {
      throw new RenderError(`geomIds buffer has ${geomIds.length} entries, expected width*height = ${n}`);
    }
    const d = depth ?? new Float64Array(n);
    this.trace(data, null, d, geomIds ?? null);
    return d;
  }

  /** The pixel loop shared by colour and depth output. */
  private trace(data: MjData, img: Uint8Array | null, depth: Float64Array | null, ids: Int32Array | null): void {
    if (this.disposed) throw new RenderError('Renderer used after dispose()');
    const W = this.width, H = this.height;
    this.updateCamera(data);
    const ambient = this.updateLights(data);
    this.buildTable(data);
    const P = this.table.data;
    const count = this.table.count;
    if (this.active.length < count) {
      this.active = new Int32Array(count);
      this.rowDir = new Float64Array(count * 3);
      this.shadowBox = new Float64Array(count * 5);
    }
    const cam = this.cam;
    const L = this.lightDir;
    for (let k = 0; k < count; k++) prepareForCamera(P, k * STRIDE, cam, L[0]!, L[1]!, L[2]!);
    if (this.shadows && img !== null) this.shadowBounds();
    const sky = img !== null ? this.updateSky() : this.skyImage;

    const act = this.active, rowDir = this.rowDir, uCol = this.uCol;
    let o = 0;
    for (let i = 0; i < H; i++) {
      const v = this.vRow[i]!;
      let nAct = 0;
      for (let k = 0; k < count; k++) {
        const b = k * STRIDE;
        if (i < P[b + P_I0]! || i > P[b + P_I1]!) continue;
        act[nAct] = b;
        const r = 3 * nAct;
        rowDir[r] = v * P[b + P_UL]! + P[b + P_FL]!;
        rowDir[r + 1] = v * P[b + P_UL + 1]! + P[b + P_FL + 1]!;
        rowDir[r + 2] = v * P[b + P_UL + 2]! + P[b + P_FL + 2]!;
        nAct++;
      }
      for (let j = 0; j < W; j++, o += 3) {
        const u = uCol[j]!;
        let best = Infinity, bestB = -1;
        for (let a = 0; a < nAct; a++) {
          const b = act[a]!;
          if (j < P[b + P_J0]! || j > P[b + P_J1]!) continue;
          const r = 3 * a;
          const t = rayPrimitive(
            P[b + P_TYPE]!, P[b + P_SIZE]!, P[b + P_SIZE + 1]!, P[b + P_SIZE + 2]!,
            P[b + P_OL]!, P[b + P_OL + 1]!, P[b + P_OL + 2]!,
            u * P[b + P_RL]! + rowDir[r]!, u * P[b + P_RL + 1]! + rowDir[r + 1]!, u * P[b + P_RL + 2]! + rowDir[r + 2]!,
            0,
          );
          if (t < best) { best = t; bestB = b; }
        }
        if (img !== null) {
          if (bestB < 0) { img[o] = sky[o]!; img[o + 1] = sky[o + 1]!; img[o + 2] = sky[o + 2]!; }
          else this.shade(img, o, bestB, best, u, v, ambient, this.invLen[o / 3]!);
        } else {
          this.recordDepth(depth, ids, o / 3, bestB, best, u, v);
        }
      }
    }
  }

  private recordDepth(
    depth: Float64Array | null, ids: Int32Array | null, p: number, b: number, t: number, u: number, v: number,
  ): void {
    const c = this.cam;
    const dx = u * c.rx + v * c.ux + c.fx, dy = u * c.ry + v * c.uy + c.fy, dz = u * c.rz + v * c.uz + c.fz;
    if (depth !== null) depth[p] = b < 0 ? Infinity : t * Math.sqrt(dx * dx + dy * dy + dz * dz);
    if (ids !== null) {
      const g = b < 0 ? -1 : this.table.data[b + P_GEOM]!;
      ids[p] = g < 0 && b >= 0 ? -2 : g;
    }
  }

  /** Releases the renderer's buffers; the model and data stay the caller's. */
  dispose(): void {
    this.disposed = true;
    this.table = new PrimitiveTable(0);
    this.active = new Int32Array(0);
    this.rowDir = new Float64Array(0);
    this.shadowBox = new Float64Array(0);
    this.skyImage = new Uint8Array(0);
  }

  /** Camera pose for this frame: tracking cameras move, so read data each time. */
  private updateCamera(data: MjData): void {
    let pos: Float64Array, mat: Float64Array, po = 0, mo = 0;
    if (this.freePose !== null) {
      pos = this.freePose.pos; mat = this.freePose.mat;
    } else {
      pos = field(data, 'cam_xpos', Float64Array); mat = field(data, 'cam_xmat', Float64Array);
      po = 3 * this.cameraId; mo = 9 * this.cameraId;
    }
    const c = this.cam;
    c.px = pos[po]!; c.py = pos[po + 1]!; c.pz = pos[po + 2]!;
    c.rx = mat[mo]!; c.ry = mat[mo + 3]!; c.rz = mat[mo + 6]!;
    c.ux = mat[mo + 1]!; c.uy = mat[mo + 4]!; c.uz = mat[mo + 7]!;
    c.fx = -mat[mo + 2]!; c.fy = -mat[mo + 5]!; c.fz = -mat[mo + 8]!;
  }

  /**
   * Directions towards each light (all treated as directional along their
   * axis) and their diffuse strength; a model without lights gets one from
   * straight above. Returns the total ambient term.
   */
  private updateLights(data: MjData): number {
    const m = this.model;
    const nl = this.modelLights;
    const L = this.lightDir, D = this.lightDiffuse;
    if (nl === 0) {
      // Our stand-in for a model without lights: matte, so it adds no highlights MuJoCo would not draw.
      L[0] = 0; L[1] = 0; L[2] = 1;
      D[0] = 0.7; D[1] = 0.7; D[2] = 0.7;
      this.updateLightCam(1);
      return this.headAmbient;
    }
    const xdir = field(data, 'light_xdir', Float64Array);
    const diffuse = field(m, 'light_diffuse', Float32Array);
    const amb = field(m, 'light_ambient', Float32Array);
    let ambient = this.headAmbient;
    for (let l = 0; l < nl; l++) {
      const x = -xdir[3 * l]!, y = -xdir[3 * l + 1]!, z = -xdir[3 * l + 2]!;
      const len = Math.sqrt(x * x + y * y + z * z) || 1;
      L[3 * l] = x / len; L[3 * l + 1] = y / len; L[3 * l + 2] = z / len;
      D[3 * l] = diffuse[3 * l]!; D[3 * l + 1] = diffuse[3 * l + 1]!; D[3 * l + 2] = diffuse[3 * l + 2]!;
      ambient += (amb[3 * l]! + amb[3 * l + 1]! + amb[3 * l + 2]!) / 3;
    }
    this.updateLightCam(nl);
    return ambient;
  }

  /** L . (right, up, forward) per light: with them a pixel's L . ray costs two multiply-adds. */
  private updateLightCam(nl: number): void {
    const L = this.lightDir, LC = this.lightCam, c = this.cam;
    for (let l = 0; l < nl; l++) {
      const x = L[3 * l]!, y = L[3 * l + 1]!, z = L[3 * l + 2]!;
      LC[3 * l] = x * c.rx + y * c.ry + z * c.rz;
      LC[3 * l + 1] = x * c.ux + y * c.uy + z * c.uz;
      LC[3 * l + 2] = x * c.fx + y * c.fy + z * c.fz;
    }
  }

  /** Fills the primitive table with the visible geoms and tendon segments. */
  private buildTable(data: MjData): void {
    const m = this.model;
    const table = this.table;
    table.clear();
    const xpos = field(data, 'geom_xpos', Float64Array);
    const xmat = field(data, 'geom_xmat', Float64Array);
    const size = field(m, 'geom_size', Float64Array);
    const rgbaAll = field(m, 'geom_rgba', Float32Array);
    const matid = field(m, 'geom_matid', Int32Array);
    const group = field(m, 'geom_group', Int32Array);
    const matRgba = field(m, 'mat_rgba', Float32Array);
    const matSpec = m.nmat > 0 ? field(m, 'mat_specular', Float32Array) : null;
    const matShine = m.nmat > 0 ? field(m, 'mat_shininess', Float32Array) : null;
    const types = this.geomType;
    for (let g = 0; g < types.length; g++) {
      const type = types[g]!;
      if (!isSupportedGeom(type)) continue;
      const grp = group[g]!;
      if (grp < 0 || grp >= FIRST_HIDDEN_GROUP) continue;
      const mid = matid[g]!;
      const pick = pickRgba(rgbaAll, g, mid);
      const rgba = pick >= 0 ? rgbaAll : matRgba, off = pick >= 0 ? pick : -1 - pick;
      if (rgba[off + 3] === 0) continue;
      const b = table.push();
      const P = table.data;
      P[b + P_TYPE] = type;
      P[b + P_GEOM] = g;
      P[b + P_POS] = xpos[3 * g]!; P[b + P_POS + 1] = xpos[3 * g + 1]!; P[b + P_POS + 2] = xpos[3 * g + 2]!;
      for (let e = 0; e < 9; e++) P[b + P_MAT + e] = xmat[9 * g + e]!;
      const s0 = size[3 * g]!, s1 = size[3 * g + 1]!, s2 = size[3 * g + 2]!;
      P[b + P_SIZE] = s0; P[b + P_SIZE + 1] = s1; P[b + P_SIZE + 2] = s2;
      P[b + P_COLOR] = rgba[off]!; P[b + P_COLOR + 1] = rgba[off + 1]!; P[b + P_COLOR + 2] = rgba[off + 2]!;
      P[b + P_RAD] = boundingRadius(type, s0, s1, s2);
      this.setSpecular(P, b, mid >= 0 && matSpec ? matSpec[mid]! : DEFAULT_SPECULAR, mid >= 0 && matShine ? matShine[mid]! : DEFAULT_SHININESS);
      const isPlane = type === GEOM_PLANE;
      const tex = isPlane && mid >= 0 ? this.textures[mid] ?? null : null;
      P[b + P_TEX] = tex !== null ? mid : -1;
      if (tex !== null) {
        // Texture coordinates per metre as MuJoCo's texgen sets them (s = 0.5 scl x - 0.5):
        // texuniform repeats texrepeat times per 2 m, otherwise across the (finite) plane.
        P[b + P_TEXSX] = 0.5 * (tex.uniform || s0 <= 0 ? tex.repeatX : tex.repeatX / s0);
        P[b + P_TEXSY] = 0.5 * (tex.uniform || s1 <= 0 ? tex.repeatY : tex.repeatY / s1);
      }
      // Planes without a texture get a checker whose cells are the plane's grid spacing.
      P[b + P_CHECK] = isPlane && P[b + P_TEX] === -1 ? (s2 > 0 ? s2 : 0.5) : 0;
    }
    if (this.nTendons > 0) this.addTendons(data);
  }

  /** Spatial tendons as thin capsules between consecutive wrap points. */
  private addTendons(data: MjData): void {
    const m = this.model;
    const table = this.table;
    const adr = field(data, 'ten_wrapadr', Int32Array);
    const num = field(data, 'ten_wrapnum', Int32Array);
    const obj = field(data, 'wrap_obj', Int32Array);
    const wx = field(data, 'wrap_xpos', Float64Array);
    const width = field(m, 'tendon_width', Float64Array);
    const rgbaAll = field(m, 'tendon_rgba', Float32Array);
    const matid = field(m, 'tendon_matid', Int32Array);
    const group = field(m, 'tendon_group', Int32Array);
    const matRgba = field(m, 'mat_rgba', Float32Array);
    const matSpec = m.nmat > 0 ? field(m, 'mat_specular', Float32Array) : null;
    const matShine = m.nmat > 0 ? field(m, 'mat_shininess', Float32Array) : null;
    for (let t = 0; t < this.nTendons; t++) {
      const grp = group[t]!;
      if (grp < 0 || grp >= FIRST_HIDDEN_GROUP) continue;
      const pick = pickRgba(rgbaAll, t, matid[t]!);
      const rgba = pick >= 0 ? rgbaAll : matRgba, off = pick >= 0 ? pick : -1 - pick;
      if (rgba[off + 3] === 0) continue;
      const radius = width[t]!;
      if (!(radius > 0)) continue;
      const a0 = adr[t]!, cnt = num[t]!;
      for (let w = a0; w < a0 + cnt - 1; w++) {
        // -2 marks a pulley, which splits the tendon into separate branches.
        if (obj[w] === -2 || obj[w + 1] === -2) continue;
        const b = table.push();
        const P = table.data;
        writeSegment(P, b, wx[3 * w]!, wx[3 * w + 1]!, wx[3 * w + 2]!, wx[3 * w + 3]!, wx[3 * w + 4]!, wx[3 * w + 5]!, radius);
        P[b + P_COLOR] = rgba[off]!; P[b + P_COLOR + 1] = rgba[off + 1]!; P[b + P_COLOR + 2] = rgba[off + 2]!;
        P[b + P_TEX] = -1; P[b + P_CHECK] = 0;
        const mid = matid[t]!;
        this.setSpecular(P, b, mid >= 0 && matSpec ? matSpec[mid]! : DEFAULT_SPECULAR, mid >= 0 && matShine ? matShine[mid]! : DEFAULT_SHININESS);
      }
    }
  }

  /**
   * A primitive's Blinn-Phong weight and exponent, and the squared cosine
   * below which even the strongest light's highlight stays under half a
   * byte, so most pixels skip the power.
   */
  private setSpecular(P: Float64Array, b: number, specular: number, shininess: number): void {
    const exponent = 128 * shininess;
    const peak = 255 * specular * this.maxLightSpecular;
    P[b + P_SPEC] = specular;
    P[b + P_SHINE] = exponent;
    P[b + P_SPECCUT2] = peak > 0.5 && exponent > 0 ? (0.5 / peak) ** (2 / exponent) : Infinity;
  }

  /** The sky for the current camera orientation, recomputed only when it turns. */
  private updateSky(): Uint8Array {
    const c = this.cam, M = this.skyMat;
    if (
      M[0] === c.rx && M[1] === c.ry && M[2] === c.rz && M[3] === c.ux && M[4] === c.uy &&
      M[5] === c.uz && M[6] === c.fx && M[7] === c.fy && M[8] === c.fz
    ) return this.skyImage;
    M[0] = c.rx; M[1] = c.ry; M[2] = c.rz; M[3] = c.ux; M[4] = c.uy; M[5] = c.uz; M[6] = c.fx; M[7] = c.fy; M[8] = c.fz;
    const img = this.skyImage;
    if (this.skybox !== null) {
      const texData = field(this.model, 'tex_data', Uint8Array);
      let p = 0;
      for (let i = 0; i < this.height; i++) {
        const v = this.vRow[i]!;
        for (let j = 0; j < this.width; j++, p += 3) {
          const u = this.uCol[j]!;
          skyboxTexel(this.skybox, texData, u * c.rx + v * c.ux + c.fx, u * c.ry + v * c.uy + c.fy, u * c.rz + v * c.uz + c.fz, img, p);
        }
      }
      return img;
    }
    let o = 0;
    for (let i = 0; i < this.height; i++) {
      const v = this.vRow[i]!;
      for (let j = 0; j < this.width; j++, o += 3) {
        const u = this.uCol[j]!;
        const dz = u * c.rz + v * c.uz + c.fz;
        const dx = u * c.rx + v * c.ux + c.fx, dy = u * c.ry + v * c.uy + c.fy;
        const z = dz / Math.sqrt(dx * dx + dy * dy + dz * dz);
        // Blend from the horizon towards the zenith above, towards the ground below.
        const to = z >= 0 ? SKY_TOP : SKY_GROUND;
        const w = z >= 0 ? z : Math.min(1, -4 * z);
        img[o] = toByte(SKY_HORIZON[0] + (to[0] - SKY_HORIZON[0]) * w);
        img[o + 1] = toByte(SKY_HORIZON[1] + (to[1] - SKY_HORIZON[1]) * w);
        img[o + 2] = toByte(SKY_HORIZON[2] + (to[2] - SKY_HORIZON[2]) * w);
      }
    }
    return img;
  }

  /**
   * Bounds of each primitive in light space (two axes across the first
   * light's direction, plus height along it), so a shadow ray from a point
   * only tests casters whose footprint covers the point and that rise above it.
   */
  private shadowBounds(): void {
    const P = this.table.data, S = this.shadowBox, B = this.lightBasis;
    const L = this.lightDir;
    const lx = L[0]!, ly = L[1]!, lz = L[2]!;
    // Any unit vector across L, then the third axis of the frame.
    let ax: number, ay: number, az: number;
    if (Math.abs(lx) < 0.9) { ax = 0; ay = lz; az = -ly; } else { ax = -lz; ay = 0; az = lx; }
    const al = Math.sqrt(ax * ax + ay * ay + az * az);
    ax /= al; ay /= al; az /= al;
    const bx = ly * az - lz * ay, by = lz * ax - lx * az, bz = lx * ay - ly * ax;
    B[0] = ax; B[1] = ay; B[2] = az; B[3] = bx; B[4] = by; B[5] = bz;
    const e = this.normal;
    for (let k = 0; k < this.table.count; k++) {
      const b = k * STRIDE, s5 = 5 * k;
      const type = P[b + P_TYPE]!;
      if (type === GEOM_PLANE) { S[s5] = 1; S[s5 + 1] = 0; continue; } // never casts
      localHalfExtents(type, P[b + P_SIZE]!, P[b + P_SIZE + 1]!, P[b + P_SIZE + 2]!, e);
      const m = b + P_MAT;
      const cx = P[b + P_POS]!, cy = P[b + P_POS + 1]!, cz = P[b + P_POS + 2]!;
      // Half-width of an oriented box along unit w: sum over local axes of |axis.w| * extent.
      const ha = e[0]! * Math.abs(P[m]! * ax + P[m + 3]! * ay + P[m + 6]! * az) +
        e[1]! * Math.abs(P[m + 1]! * ax + P[m + 4]! * ay + P[m + 7]! * az) +
        e[2]! * Math.abs(P[m + 2]! * ax + P[m + 5]! * ay + P[m + 8]! * az);
      const hb = e[0]! * Math.abs(P[m]! * bx + P[m + 3]! * by + P[m + 6]! * bz) +
        e[1]! * Math.abs(P[m + 1]! * bx + P[m + 4]! * by + P[m + 7]! * bz) +
        e[2]! * Math.abs(P[m + 2]! * bx + P[m + 5]! * by + P[m + 8]! * bz);
      const hl = e[0]! * Math.abs(P[m]! * lx + P[m + 3]! * ly + P[m + 6]! * lz) +
        e[1]! * Math.abs(P[m + 1]! * lx + P[m + 4]! * ly + P[m + 7]! * lz) +
        e[2]! * Math.abs(P[m + 2]! * lx + P[m + 5]! * ly + P[m + 8]! * lz);
      const ca = cx * ax + cy * ay + cz * az, cb = cx * bx + cy * by + cz * bz, cl = cx * lx + cy * ly + cz * lz;
      S[s5] = ca - ha; S[s5 + 1] = ca + ha; S[s5 + 2] = cb - hb; S[s5 + 3] = cb + hb; S[s5 + 4] = cl + hl;
    }
  }

  private shade(
    img: Uint8Array, o: number, b: number, t: number, u: number, v: number, ambient: number, invLen: number,
  ): void {
    const P = this.table.data;
    const c = this.cam;
    const type = P[b + P_TYPE]!;
    const s0 = P[b + P_SIZE]!, s1 = P[b + P_SIZE + 1]!, s2 = P[b + P_SIZE + 2]!;
    // Hit point in the primitive's frame, for the normal and texture lookup.
    const lx = P[b + P_OL]! + t * (u * P[b + P_RL]! + v * P[b + P_UL]! + P[b + P_FL]!);
    const ly = P[b + P_OL + 1]! + t * (u * P[b + P_RL + 1]! + v * P[b + P_UL + 1]! + P[b + P_FL + 1]!);
    const lz = P[b + P_OL + 2]! + t * (u * P[b + P_RL + 2]! + v * P[b + P_UL + 2]! + P[b + P_FL + 2]!);
    const m = b + P_MAT;
    let nx: number, ny: number, nz: number;
    if (type === GEOM_PLANE) {
      // A plane's normal is its local z axis: the third column of its rotation.
      nx = P[m + 2]!; ny = P[m + 5]!; nz = P[m + 8]!;
    } else {
      const nrm = this.normal;
      localNormal(type, s0, s1, s2, lx, ly, lz, nrm);
      nx = P[m]! * nrm[0]! + P[m + 1]! * nrm[1]! + P[m + 2]! * nrm[2]!;
      ny = P[m + 3]! * nrm[0]! + P[m + 4]! * nrm[1]! + P[m + 5]! * nrm[2]!;
      nz = P[m + 6]! * nrm[0]! + P[m + 7]! * nrm[1]! + P[m + 8]! * nrm[2]!;
    }
    const dx = u * c.rx + v * c.ux + c.fx, dy = u * c.ry + v * c.uy + c.fy, dz = u * c.rz + v * c.uz + c.fz;
    let ndv = nx * dx + ny * dy + nz * dz;
    // Seen from inside (camera within a geom): light the face we look at.
    if (ndv > 0) { nx = -nx; ny = -ny; nz = -nz; ndv = -ndv; }

    let cr = P[b + P_COLOR]!, cg = P[b + P_COLOR + 1]!, cb = P[b + P_COLOR + 2]!;
    // A texture modulates the lighting after OpenGL clamps it (GL_MODULATE), specular included.
    let textured = false, tr = 1, tg = 1, tb = 1;
    const tex = P[b + P_TEX]!;
    if (tex >= 0) {
      const tx = this.textures[tex];
      if (tx != null) {
        textured = true;
        // MuJoCo's plane texgen: s = 0.5 scl x - 0.5, t = -0.5 scl y - 0.5 (TEXSX/Y hold 0.5 scl).
        const fu = lx * P[b + P_TEXSX]! - 0.5, fv = -ly * P[b + P_TEXSY]! - 0.5;
        const tw = tx.width, th = tx.height;
        let col = Math.floor((fu - Math.floor(fu)) * tw), row = Math.floor((fv - Math.floor(fv)) * th);
        if (col >= tw) col = tw - 1;
        if (row >= th) row = th - 1;
        const p = 3 * (row * tw + col);
        const rgb = tx.rgb;
        tr = rgb[p]!; tg = rgb[p + 1]!; tb = rgb[p + 2]!;
      }
    } else {
      const cell = P[b + P_CHECK]!;
      if (cell > 0 && ((Math.floor(lx / cell) + Math.floor(ly / cell)) & 1) !== 0) {
        cr *= CHECKER_DARK; cg *= CHECKER_DARK; cb *= CHECKER_DARK;
      }
    }

    // MuJoCo's head light is directional along the camera's forward axis, and never shadowed.
    const ndh = -(nx * c.fx + ny * c.fy + nz * c.fz);
    // n . V with V the unit vector to the camera (OpenGL local viewer, as MuJoCo sets it).
    const ndvUnit = -ndv * invLen;
    const ks = P[b + P_SPEC]!, shine = P[b + P_SHINE]!, cut2 = P[b + P_SPECCUT2]!;
    let lr = ambient, lg = ambient, lb = ambient;
    if (ndh > 0) {
      const hd = this.headDiffuse * ndh;
      lr += hd; lg += hd; lb += hd;
    }
    const L = this.lightDir, D = this.lightDiffuse, S = this.lightSpecular;
    const nl = this.nLights;
    // Lights that reach this point, as (light, n.L) pairs, for the highlight pass below.
    const lit = this.litScratch;
    let nlit = 0;
    let hx = 0, hy = 0, hz = 0;
    if (this.shadows) { hx = c.px + t * dx; hy = c.py + t * dy; hz = c.pz + t * dz; }
    for (let l = 0; l < nl; l++) {
      const ndl = nx * L[3 * l]! + ny * L[3 * l + 1]! + nz * L[3 * l + 2]!;
      if (ndl <= 0) continue;
      if (l === 0 && this.shadows && this.occluded(hx, hy, hz, b)) continue;
      lr += D[3 * l]! * ndl; lg += D[3 * l + 1]! * ndl; lb += D[3 * l + 2]! * ndl;
      if (S[l]! > 0) { lit[2 * nlit] = l; lit[2 * nlit + 1] = ndl; nlit++; }
    }
    let spec = 0;
    // Where diffuse light already saturates every channel a highlight changes nothing: most floor pixels.
    if (ks > 0 && !(cr * lr >= 1 && cg * lg >= 1 && cb * lb >= 1)) {
      // L . V = forward . ray / |ray| = invLen for the head light, as the ray is right u + up v + forward.
      if (ndh > 0) spec += this.headSpecular * blinnPhong(ndh, ndvUnit, invLen, cut2, shine);
      const LC = this.lightCam;
      for (let k = 0; k < nlit; k++) {
        const l = lit[2 * k]!;
        const ldv = -(u * LC[3 * l]! + v * LC[3 * l + 1]! + LC[3 * l + 2]!) * invLen;
        spec += S[l]! * blinnPhong(lit[2 * k + 1]!, ndvUnit, ldv, cut2, shine);
      }
      spec *= ks;
    }
    if (textured) {
      img[o] = toByte(tr * Math.min(1, cr * lr + spec));
      img[o + 1] = toByte(tg * Math.min(1, cg * lg + spec));
      img[o + 2] = toByte(tb * Math.min(1, cb * lb + spec));
    } else {
      img[o] = toByte(cr * lr + spec); img[o + 1] = toByte(cg * lg + spec); img[o + 2] = toByte(cb * lb + spec);
    }
  }

  /**
   * Whether anything but the surface's own primitive lies between world point
   * (x, y, z) and the first light. Convex primitives cannot shadow themselves
   * on their lit side, and planes are one-sided floors that never cast.
   */
  private occluded(x: number, y: number, z: number, self: number): boolean {
    const P = this.table.data;
    const count = this.table.count;
    const L = this.lightDir;
    const S = this.shadowBox, B = this.lightBasis;
    const pa = x * B[0]! + y * B[1]! + z * B[2]!;
    const pb = x * B[3]! + y * B[4]! + z * B[5]!;
    const pl = x * L[0]! + y * L[1]! + z * L[2]!;
    for (let k = 0; k < count; k++) {
      const s5 = 5 * k;
      if (pa < S[s5]! || pa > S[s5 + 1]! || pb < S[s5 + 2]! || pb > S[s5 + 3]! || pl >= S[s5 + 4]!) continue;
      const b = k * STRIDE;
      if (b === self) continue;
      const type = P[b + P_TYPE]!;
      const vx = P[b + P_POS]! - x, vy = P[b + P_POS + 1]! - y, vz = P[b + P_POS + 2]! - z;
      const m = b + P_MAT;
      const ox = -vx, oy = -vy, oz = -vz;
      const t = rayPrimitive(
        type, P[b + P_SIZE]!, P[b + P_SIZE + 1]!, P[b + P_SIZE + 2]!,
        P[m]! * ox + P[m + 3]! * oy + P[m + 6]! * oz,
        P[m + 1]! * ox + P[m + 4]! * oy + P[m + 7]! * oz,
        P[m + 2]! * ox + P[m + 5]! * oy + P[m + 8]! * oz,
        P[b + P_LL]!, P[b + P_LL + 1]!, P[b + P_LL + 2]!,
        SHADOW_T_MIN,
      );
      if (t < Infinity) return true;
    }
    return false;
  }
}

/**
 * (n . h)^exponent for unit normal n, light L and view V, given n.L, n.V and
 * L.V; h = (L + V) / |L + V|. Zero when the squared cosine is under cut2,
 * where the highlight would not reach half a byte.
 */
function blinnPhong(ndl: number, ndv: number, ldv: number, cut2: number, exponent: number): number {
  const q = ndl + ndv;
  const len2 = 2 + 2 * ldv;
  if (!(q > 0) || !(len2 > 0)) return 0;
  const nh2 = (q * q) / len2;
  if (nh2 < cut2) return 0;
  if (nh2 >= 1) return 1;
  if (exponent === 64) {
    // MuJoCo's default shininess 0.5: (nh2)^32 by five squarings, several times faster than Math.pow.
    let x = nh2 * nh2; x *= x; x *= x; x *= x; return x * x;
  }
  return Math.pow(nh2, exponent / 2);
}

function toByte(x: number): number {
  if (!(x > 0)) return 0;
  if (x >= 1) return 255;
  return (x * 255 + 0.5) | 0;
}

function mean3(a: ArrayLike<number>): number {
  return ((a[0] ?? 0) + (a[1] ?? 0) + (a[2] ?? 0)) / 3;
}
