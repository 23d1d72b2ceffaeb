/** Thrown by withinDeadline when the work has not settled in time. */
export class DeadlineExceeded extends Error {}

/**
 * The work's result, or a DeadlineExceeded after `ms`. The work itself goes on (a query cannot be taken back);
 * only the caller stops waiting, so a health check or a scrape answers in bounded time whatever the store does.
 */
export async function withinDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(`${what} did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
    // A late failure of the abandoned work must not become an unhandled rejection.
    work.catch(() => undefined);
  }
}
