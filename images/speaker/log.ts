// Structured JSON logs, one object a line on stdout.
import type { LogLevel } from '../../lib/speaker/config';

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
}

export function jsonLogger(
  level: LogLevel,
  base: Fields,
  write: (line: string) => void = (l) => process.stdout.write(l),
): Logger {
  const emit =
    (at: LogLevel) =>
    (msg: string, fields: Fields = {}) => {
      if (rank[at] < rank[level]) return;
      write(`${JSON.stringify({ time: new Date().toISOString(), level: at, msg, ...base, ...fields })}\n`);
    };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}
