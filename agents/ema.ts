// The soft target update every target network follows: the critic's target
// (Q heads at criticTau, encoder at encoderTau) and an objective's target
// heads (BYOL's projector, with the encoder).
import * as tf from '@tensorflow/tfjs';
import { hostOutput, hostValues } from './host-memory.js';
import type { NativeHeadKernels } from './native/addon.js';

/**
 * `target.<n>` <- tau * `<n>` + (1 - tau) * `target.<n>` for each name; on libtorch's
 * head kernels when given (the same float32 operations, one pass instead of three ops).
 */
export function softUpdate(params: ReadonlyMap<string, tf.Variable>, names: readonly string[], tau: number, native: NativeHeadKernels | null = null): void {
  tf.tidy(() => {
    for (const n of names) {
      const online = params.get(n);
      const target = params.get(`target.${n}`);
      if (!online || !target) throw new Error(`agent: soft update: missing "${online ? `target.${n}` : n}"`);
      if (native) {
        const out = hostOutput(target.shape);
        native.softUpdate(hostValues(target), hostValues(online), tau, out.view());
        target.assign(out.tensor);
      } else target.assign(tf.add(tf.mul(online, tau), tf.mul(target, 1 - tau)));
    }
  });
}
