/*
 * TensorBoard `Event` messages, encoded and decoded by protobufjs from
 * event.proto (TensorBoard's field numbers). Scalars use `simple_value` (a
 * float32), the form every TensorBoard reader takes, tensorboardX and
 * PyTorch's SummaryWriter write, and EventAccumulator.Scalars() returns;
 * text is the text plugin's string tensor; images are PNG bytes in
 * `Summary.Image`, which TensorBoard's image dashboard shows.
 */
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const root = protobuf.loadSync(fileURLToPath(new URL('./event.proto', import.meta.url)));
const EventMessage = root.lookupType('tensorboard.Event');

/** What the first event of every file says: readers check it before trusting the rest. */
export const FILE_VERSION = 'brain.Event:2';
const DT_STRING = 7;
const SESSION_START = 1;
const RGB = 3;

export interface ScalarValue {
  tag: string;
  value: number;
}

/** An event as this module writes and reads it back (protobufjs' plain-object form, longs as numbers). */
export interface DecodedEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  sessionLog?: { status: number };
  summary?: {
    value: Array<{
      tag: string;
      simpleValue?: number;
      image?: { height: number; width: number; colorspace: number; encodedImageString: Uint8Array };
      tensor?: { dtype: number; stringVal?: Uint8Array[] };
      metadata?: { pluginData?: { pluginName: string } };
    }>;
  };
}

function encode(event: Record<string, unknown>): Uint8Array {
  const problem = EventMessage.verify(event);
  if (problem) throw new Error(`not a TensorBoard event: ${problem}`);
  return EventMessage.encode(EventMessage.fromObject(event)).finish();
}

export function fileVersionEvent(wallTime: number): Uint8Array {
  return encode({ wallTime, step: 0, fileVersion: FILE_VERSION });
}

/** Several scalars at one step in one event (one record per metrics line). */
export function scalarsEvent(step: number, wallTime: number, values: readonly ScalarValue[]): Uint8Array {
  return encode({ wallTime, step, summary: { value: values.map(({ tag, value }) => ({ tag, simpleValue: value })) } });
}

/** Markdown for the text dashboard. */
export function textEvent(step: number, wallTime: number, tag: string, markdown: string): Uint8Array {
  return encode({
    wallTime,
    step,
    summary: {
      value: [{
        tag,
        metadata: { pluginData: { pluginName: 'text' } },
        tensor: { dtype: DT_STRING, tensorShape: {}, stringVal: [Buffer.from(markdown, 'utf8')] },
      }],
    },
  });
}

export function imageEvent(step: number, wallTime: number, tag: string, image: { png: Uint8Array; width: number; height: number }): Uint8Array {
  return encode({
    wallTime,
    step,
    summary: { value: [{ tag, image: { height: image.height, width: image.width, colorspace: RGB, encodedImageString: image.png } }] },
  });
}

/**
 * A restart marker: TensorBoard's event loader, on SessionLog START at step s,
 * drops what it has already read at steps >= s (its purge of orphaned data),
 * so a TensorBoard left running across a resume forgets the steps the resume
 * redoes. The files themselves are cut back on resume (see event-files.ts).
 */
export function sessionStartEvent(step: number, wallTime: number): Uint8Array {
  return encode({ wallTime, step, sessionLog: { status: SESSION_START } });
}

export function decodeEvent(bytes: Uint8Array): DecodedEvent {
  const event = EventMessage.toObject(EventMessage.decode(bytes), { longs: Number }) as Partial<DecodedEvent>;
  // proto3 leaves zeros off the wire
  return { ...event, wallTime: event.wallTime ?? 0, step: event.step ?? 0 };
}
