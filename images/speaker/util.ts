// Small helpers the speaker's parts share.

/** The message of an error for a log field, with its cause (fetch says only "fetch failed"). */
export function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  return e.cause instanceof Error ? `${e.message}: ${e.cause.message}` : e.message;
}

/** On the global timers, so that the unit tests' fake clock drives it. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
