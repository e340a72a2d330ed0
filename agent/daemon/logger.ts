/**
 * Structured logs: one JSON object per line on stdout ({"level","time","msg",...fields}), the
 * form log collectors parse without configuration. Components get a child logger carrying a
 * `component` field.
 */
import winston from 'winston';
import type { LogLevel } from './config';

export type Logger = winston.Logger;

export function createLogger(level: LogLevel, stream?: NodeJS.WritableStream): Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(
      winston.format.errors({ stack: true }),
      winston.format.timestamp({ alias: 'time' }),
      winston.format((info) => {
        // `timestamp({alias})` keeps both keys; keep only `time`, and name the message `msg`.
        delete info.timestamp;
        info.msg = info.message;
        delete (info as { message?: unknown }).message;
        return info;
      })(),
      winston.format.json(),
    ),
    transports: [
      stream
        ? new winston.transports.Stream({ stream })
        : new winston.transports.Console({ stderrLevels: [], consoleWarnLevels: [] }),
    ],
  });
}

/** A logger that drops everything (tests that do not look at logs). */
export function silentLogger(): Logger {
  return winston.createLogger({
    silent: true,
    transports: [new winston.transports.Console({ silent: true })],
  });
}

/** Log fields for a caught value (Error objects do not serialise to JSON by themselves). */
export function errorFields(err: unknown): { error: string; code?: string | number } {
  if (err instanceof Error) {
    const code =
      (err as { code?: unknown; statusCode?: unknown }).statusCode ?? (err as { code?: unknown }).code;
    return typeof code === 'string' || typeof code === 'number'
      ? { error: err.message, code }
      : { error: err.message };
  }
  return { error: String(err) };
}
