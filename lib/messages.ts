// Bounded quoting of user text (docs/ARCHITECTURE.md §2.3). Whatever a user wrote (an annotation, a name, a pool
// entry, a selector) appears in conditions, Events and L2LoadBalancer status only up to a short
// bound: a 40 KB annotation quoted whole made a condition message over the API server's 32 KiB
// limit, the status write was refused and the failing run blocked every other Service's queue.

/** The most characters of one piece of user text a message quotes. */
export const QUOTE_MAX = 200;
/** The most characters of a whole condition message (the API server refuses more than 32 KiB). */
export const MESSAGE_MAX = 2048;

/** User text in double quotes, cut at `max` characters with the full length said. */
export function quote(text: string, max = QUOTE_MAX): string {
  if (text.length <= max) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, max))}... (${text.length} characters)`;
}

/** At most `max` items of a list, joined, with how many were left out. */
export function listSome(items: readonly string[], max = 5, separator = ', '): string {
  if (items.length <= max) return items.join(separator);
  return `${items.slice(0, max).join(separator)}${separator}and ${items.length - max} more`;
}

/** A message cut to `max` characters: the last line of defence; quoting keeps it short already. */
export function clampMessage(message: string, max = MESSAGE_MAX): string {
  if (message.length <= max) return message;
  const keep = max - 64;
  return `${message.slice(0, keep)} ... (${message.length - keep} more characters; see the Events)`;
}
