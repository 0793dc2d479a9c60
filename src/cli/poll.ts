/** Waiting on a running cluster from the CLI (wall-clock time: the CLI is no decision code). */

/** Poll until `done` says yes or `timeoutMs` passes; false on timeout. */
export async function pollUntil(done: () => Promise<boolean>, timeoutMs: number, everyMs = 200): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await done()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
