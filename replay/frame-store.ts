import { ReplayError } from './errors.js';

/**
 * Largest typed array V8 allows on Node 20 (64-bit): 2^32 elements. A 100k
 * buffer of 100x100x3 frames is 3 GB, and larger captures exceed this, so
 * frames are spread over blocks. Blocks stay well below the limit (1 GiB) so
 * an allocation never needs one huge contiguous region.
 */
export const MAX_TYPED_ARRAY_LENGTH = 2 ** 32;
export const DEFAULT_BLOCK_BYTES = 2 ** 30;

/**
 * Fixed-size uint8 frames in a few large blocks, allocated up front. A frame
 * never straddles two blocks, so each one is a contiguous HWC image.
 */
export class FrameStore {
  readonly frameBytes: number;
  readonly slots: number;
  readonly framesPerBlock: number;
  readonly blocks: readonly Uint8Array[];

  constructor(slots: number, frameBytes: number, maxBlockBytes: number = DEFAULT_BLOCK_BYTES) {
    if (!Number.isSafeInteger(slots) || slots <= 0) throw new ReplayError(`FrameStore: slots must be a positive integer, got ${slots}`);
    if (!Number.isSafeInteger(frameBytes) || frameBytes <= 0) {
      throw new ReplayError(`FrameStore: frameBytes must be a positive integer, got ${frameBytes}`);
    }
    const blockLimit = Math.min(maxBlockBytes, MAX_TYPED_ARRAY_LENGTH);
    if (frameBytes > blockLimit) {
      throw new ReplayError(`FrameStore: one frame (${frameBytes} bytes) exceeds the block limit (${blockLimit} bytes)`);
    }
    this.frameBytes = frameBytes;
    this.slots = slots;
    this.framesPerBlock = Math.min(slots, Math.floor(blockLimit / frameBytes));
    const blocks: Uint8Array[] = [];
    for (let first = 0; first < slots; first += this.framesPerBlock) {
      const count = Math.min(this.framesPerBlock, slots - first);
      try {
        blocks.push(new Uint8Array(count * frameBytes));
      } catch (error) {
        throw new ReplayError(
          `FrameStore: could not allocate ${count * frameBytes} bytes for frames ${first}..${first + count - 1} ` +
            `(${slots} frames x ${frameBytes} bytes in total); lower replayCapacity or imageSize`,
          { cause: error },
        );
      }
    }
    this.blocks = blocks;
  }

  /** The block holding `slot`; pair with offsetOf. */
  blockOf(slot: number): Uint8Array {
    return this.blocks[Math.floor(slot / this.framesPerBlock)]!;
  }

  /** Byte offset of `slot` inside its block. */
  offsetOf(slot: number): number {
    return (slot % this.framesPerBlock) * this.frameBytes;
  }

  write(slot: number, frame: Uint8Array): void {
    this.blockOf(slot).set(frame, this.offsetOf(slot));
  }

  /** A view (no copy) of one frame. */
  view(slot: number): Uint8Array {
    const offset = this.offsetOf(slot);
    return this.blockOf(slot).subarray(offset, offset + this.frameBytes);
  }

  /**
   * Views (no copies) covering slots [first, first + count), split at block
   * boundaries and into pieces of at most maxBytes, for streaming to disk.
   */
  *ranges(first: number, count: number, maxBytes: number): Generator<{ slot: number; count: number; bytes: Uint8Array }> {
    const perPiece = Math.max(1, Math.floor(maxBytes / this.frameBytes));
    let slot = first;
    const end = first + count;
    while (slot < end) {
      const inBlock = this.framesPerBlock - (slot % this.framesPerBlock);
      const n = Math.min(perPiece, inBlock, end - slot);
      const offset = this.offsetOf(slot);
      yield { slot, count: n, bytes: this.blockOf(slot).subarray(offset, offset + n * this.frameBytes) };
      slot += n;
    }
  }

  bytesAllocated(): number {
    return this.blocks.reduce((sum, b) => sum + b.byteLength, 0);
  }
}
