// Whether this process is one of `server.workers`' workers: the supervisor
// (workers.ts) starts each with GATEHOUSE_WORKER set. A leaf of its own, so
// that the app can ask without importing the supervisor, which sits above it.

/** Set in a worker's environment: its number, from 1. */
export const WORKER_VARIABLE = "GATEHOUSE_WORKER";

export const isWorker = () => process.env[WORKER_VARIABLE] !== undefined;
