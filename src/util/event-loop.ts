/**
 * Long loops of synchronous tensor work (a synthesis or training step) starve the event loop: its
 * awaits resolve as microtasks, so timers, I/O callbacks and a Node process's signal handlers
 * (Ctrl-C) would wait for the whole loop. Awaiting this once per step lets them run in between.
 */

/**
 * Resolves on the next turn of the event loop (setImmediate in Node, a zero timeout elsewhere).
 * Costs microseconds, nothing next to a step.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof setImmediate === 'function') setImmediate(resolve);
    else setTimeout(resolve, 0);
  });
}
