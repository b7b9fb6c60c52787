// Guards and comparisons for untyped JSON (binding contexts, API objects), shared by every parser
// in lib/: one definition of "a JSON object", "a string" and "equal".

export type JsonObject = Record<string, unknown>;

/** A JSON object (not null, not an array). */
export const isRec = (v: unknown): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The value if it is a string, else undefined. */
export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The value if it is a JSON object, else an empty one. */
export const obj = (v: unknown): JsonObject => (isRec(v) ? v : {});

/** The value if it is a finite number, else undefined. */
export const num = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) ? v : undefined;

/** Structural equality of JSON values, ignoring key order and undefined members (no serialisation). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ra = a as JsonObject;
  const rb = b as JsonObject;
  let na = 0;
  for (const k in ra) {
    if (ra[k] === undefined) continue;
    na++;
    if (!jsonEqual(ra[k], rb[k])) return false;
  }
  let nb = 0;
  for (const k in rb) if (rb[k] !== undefined) nb++;
  return na === nb;
}
