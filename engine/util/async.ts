/** Small timing helpers shared by the engine, its drivers and the Pulumi provider. */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `promise`, or a rejection naming `what` when it has not settled within `ms`. */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000}s`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** `fn` over `items` with at most `limit` calls in flight; results in the order of `items`. */
export async function mapBounded<T, R>(
  items: ReadonlyArray<T>,
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/** An error's message, or the value as text. */
export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * `op`, asked again every `pauseMs` while it fails with an error `transient` accepts, until `withinMs` have passed;
 * any other error, or a transient one past the deadline, is thrown as it came.
 */
export async function retryWhileTransient<T>(
  op: () => Promise<T>,
  transient: (err: unknown) => boolean,
  withinMs: number,
  pauseMs: number,
): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await op();
    } catch (err) {
      if (!transient(err) || Date.now() + pauseMs > deadline) throw err;
      await sleep(pauseMs);
    }
  }
}
