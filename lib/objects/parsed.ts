/** The result of reading one object: the typed value, or why not, naming the object and the field. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };
