// gatehouse_store_query_duration_seconds for store calls that may answer
// later: Metrics.timeQuery times a synchronous call; a transaction or a
// PostgreSQL query is a promise, timed here until it settles.
import { isPromise } from "../identity/maybe-promise.ts";
import type { Metrics } from "./recorder.ts";

export function storeQueryTimer(metrics: Metrics): <T>(query: string, run: () => T) => T {
  return <T>(query: string, run: () => T): T => {
    const started = performance.now();
    const observe = () => metrics.storeQueryDuration.labels(query).observe((performance.now() - started) / 1000);
    let result: T;
    try {
      result = run();
    } catch (error) {
      observe();
      throw error;
    }
    if (!isPromise(result)) {
      observe();
      return result;
    }
    return result.finally(observe) as T;
  };
}
