// How a feature is wired into a Gatehouse. Each feature's wiring
// (modules/<feature>/wiring.ts) returns a Feature, with what it lends the
// features made after it (its services, its built-in provider, its observer).
// src/app.ts makes them in the order they depend on each other, then lists
// them in the order their routes are mounted; that list also closes them
// (their jobs first, then what they hold).
import { Elysia, type AnyElysia } from "elysia";
import type { AuthObserver } from "../identity/observer.ts";
import type { IdentityPipeline } from "../identity/pipeline.ts";
import type { Logger } from "../log.ts";
import type { callerPlugin } from "./caller.ts";
import type { PublicUrl } from "./public-url.ts";

/** What every feature's routes are made with, once the pipeline and the caller plugin exist. */
export interface Http {
  pipeline: IdentityPipeline;
  caller: ReturnType<typeof callerPlugin>;
  /** The URLs clients reach Gatehouse at (public_url, else a trusted proxy's headers). */
  publicUrl: PublicUrl;
  logger: Logger;
}

export interface Feature {
  /** Its routes (or, for metrics, the hooks of the routes after it), as one Elysia instance; null or absent: none. */
  routes?(http: Http): AnyElysia | null;
  /** Told of every provider attempt, augmenter run and result (identity/observer.ts): given to the pipeline. */
  observer?: AuthObserver | null;
  /** Stops its background jobs (timers, listeners, retries). At close, every feature's jobs stop before anything is released. */
  stop?(): void;
  /** Releases what it holds, once every feature's jobs have stopped; the store is closed after all of them. */
  close?(): void | Promise<void>;
}

/** Every feature's routes, in the list's order, in one Elysia instance (route precedence and hooks follow the order). */
export function mountRoutes(features: readonly Feature[], http: Http) {
  const modules = new Elysia({ name: "modules" });
  for (const feature of features) {
    const routes = feature.routes?.(http);
    // use() adds to the instance itself: the chain's changing type is only for inference, which these routes do not lend.
    if (routes) modules.use(routes);
  }
  return modules;
}

