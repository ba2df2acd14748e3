// Remote API-key services (`ecmwf-api`, `efas-api`): the key is sent to a
// service that answers who owns it. The URL carries the key, so it is never
// logged (see upstream.ts); answers are cached under a hash of the key, never
// the key itself, and only successes: a key refused now may be valid a moment
// later, and failures must not fill the cache.
import { createUser, type User } from "../identity/user.ts";
import { TtlCache } from "../identity/ttl-cache.ts";
import { sha256Hex } from "../identity/secrets.ts";
import type { Logger } from "../log.ts";
import { STABLE_VERDICTS, type Provider } from "./provider.ts";
import { UpstreamError, callUpstream, upstreamJson } from "./upstream.ts";

export { UpstreamError };

export interface KeyOwner {
  username: string;
  roles?: string[];
  attributes?: Record<string, string>;
}

export interface KeyServiceOptions {
  type: string;
  name: string;
  realm: string;
  cacheSeconds: number;
  /** The service's name in error messages, e.g. "who-am-i". */
  service: string;
  /** The URL asked about a key (it carries the key: never logged). */
  urlFor(key: string): string;
  /** The user the service's JSON answer describes, or a message saying what is wrong with the answer. */
  userFrom(body: Record<string, unknown>): KeyOwner | string;
  logger: Logger;
}

export function createKeyServiceProvider(options: KeyServiceOptions): Provider {
  const { name, realm, service, logger } = options;
  const cache = new TtlCache<User>(options.cacheSeconds * 1000, 100_000);
  const event = `providers.${options.type.replace(/-/g, "_")}.validated`;

  return {
    name,
    type: options.type,
    realm,
    scheme: "bearer",
    remote: true,
    reuse: STABLE_VERDICTS,
    async authenticate(credential, signal) {
      if (credential.scheme !== "bearer") return null;
      const key = sha256Hex(credential.token);
      const cached = cache.get(key);
      if (cached) return structuredClone(cached);

      const response = await callUpstream(service, options.urlFor(credential.token), {
        signal,
        headers: { accept: "application/json" },
      });
      // The service's way of saying "not a valid key".
      if (response.status === 401 || response.status === 403) {
        await response.body?.cancel();
        return null;
      }
      const body = await upstreamJson(service, response);
      const fields = options.userFrom((body && typeof body === "object" ? body : {}) as Record<string, unknown>);
      if (typeof fields === "string") throw new UpstreamError(`${service}: ${fields}`);
      const user = createUser({ ...fields, realm });
      cache.set(key, structuredClone(user));
      logger.debug(event, { provider: name, realm, username: user.username });
      return user;
    },
  };
}
