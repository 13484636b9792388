/**
 * Writes that must not be cut short. A finished batch (or checkpoint) is committed as several
 * files; a process that quits in the middle keeps every file intact (each is written atomically)
 * but loses that batch, which a rerun must then synthesize again. The CLI's second Ctrl-C quits at
 * once, except while a commit is in flight: then it waits for `commitsSettled()`.
 */

let inFlight = 0;
let waiting: Array<() => void> = [];

/** Runs `work` as a commit: `commitsInFlight()` counts it until it settles. */
export async function commit<T>(work: () => Promise<T>): Promise<T> {
  inFlight += 1;
  try {
    return await work();
  } finally {
    inFlight -= 1;
    if (inFlight === 0) {
      const resolve = waiting;
      waiting = [];
      resolve.forEach((done) => done());
    }
  }
}

/** Commits running now in this process. */
export function commitsInFlight(): number {
  return inFlight;
}

/** Resolves once no commit is in flight (at once when none is). */
export function commitsSettled(): Promise<void> {
  return inFlight === 0 ? Promise.resolve() : new Promise((resolve) => waiting.push(resolve));
}
