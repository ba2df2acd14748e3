// Times are kept as milliseconds since the epoch and shown as ISO 8601.

/** An ISO 8601 date for a time in ms, or null for none. */
export const isoDate = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
