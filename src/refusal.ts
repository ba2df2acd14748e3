// One way to refuse: every service throws a Refusal with the HTTP status that
// says why and a message meant for the caller (never an internal detail, never
// a secret). Each HTTP module maps it once, in its own error handler
// (modules/errors.ts), to the error shape of its routes: `{"error": …}` for
// Gatehouse's and auth-o-tron's, `{"detail": …}` for Tiled's.

export type RefusalStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 429 | 503;

export class Refusal extends Error {
  constructor(
    readonly status: RefusalStatus,
    message: string,
    /** Headers the answer must carry, e.g. the WWW-Authenticate challenge of a 401. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = "Refusal";
  }
}

/**
 * A stand-in for a service that is switched off (the store, with
 * `store.enabled: false`): every method refuses with 503, so routes use the
 * service as they always do instead of checking for null (the model is
 * auth-o-tron's `store/no_store.rs`).
 */
export function unavailable<T extends object>(message: string): T {
  const refuse = () => {
    throw new Refusal(503, message);
  };
  // `then` stays undefined so that the stand-in is never mistaken for a promise.
  return new Proxy({} as T, { get: (_target, property) => (property === "then" ? undefined : refuse) });
}
