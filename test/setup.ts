/*
 * tfjs greets every process that first uses its pure-JS cpu backend in Node
 * with advice to install @tensorflow/tfjs-node; the tests use that backend on
 * purpose, and the banner buries real warnings in the output.
 */

const warn = console.warn.bind(console);
console.warn = (...args: unknown[]): void => {
  if (typeof args[0] === 'string' && args[0].includes('looks like you are running TensorFlow.js in Node.js')) return;
  warn(...args);
};
