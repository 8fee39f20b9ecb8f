/** Raised for bad renderer input: wrong sizes, unknown cameras, disposed use. */
export class RenderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RenderError';
  }
}
