// Small helpers the speaker's parts share.

/** The message of an error for a log field. */
export const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** On the global timers, so that the unit tests' fake clock drives it. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
