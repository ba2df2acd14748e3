// `ecmwf-api`: validates an ECMWF API key with `GET {uri}/who-am-i?token=KEY`.
// The URL carries the key, so it is never logged; answers are cached under a
// hash of the key, never the key itself.
import { Type } from "@sinclair/typebox";
import { createUser, type User } from "../identity/user.ts";
import { TtlCache } from "../identity/ttl-cache.ts";
import { sha256Hex } from "../identity/secrets.ts";
import { STABLE_VERDICTS, providerSchema, type ProviderType } from "./provider.ts";

const schema = providerSchema("ecmwf-api", "ECMWF API keys, checked against the who-am-i service (Bearer)", {
  uri: Type.String({ pattern: "^https?://", description: "Base URL of the ECMWF API, e.g. https://api.ecmwf.int/v1" }),
  cache_seconds: Type.Integer({ minimum: 0, default: 60, description: "How long a valid key's answer is cached" }),
});

export class UpstreamError extends Error {}

export const ecmwfApiProvider: ProviderType<typeof schema> = {
  type: "ecmwf-api",
  schema,
  create(config, { logger }) {
    const base = config.uri.replace(/\/+$/, "");
    const cache = new TtlCache<User>(config.cache_seconds * 1000);

    return {
      name: config.name,
      type: "ecmwf-api",
      realm: config.realm,
      scheme: "bearer",
      remote: true,
      reuse: STABLE_VERDICTS,
      async authenticate(credential, signal) {
        if (credential.scheme !== "bearer") return null;
        const key = sha256Hex(credential.token);
        const cached = cache.get(key);
        if (cached) return structuredClone(cached);

        let response: Response;
        try {
          response = await fetch(`${base}/who-am-i?token=${encodeURIComponent(credential.token)}`, {
            signal,
            headers: { accept: "application/json" },
            redirect: "error",
          });
        } catch (error) {
          if (signal.aborted) throw error;
          throw new UpstreamError(`who-am-i request failed: ${(error as Error).name}`);
        }
        if (response.status === 403 || response.status === 401) {
          await response.body?.cancel();
          return null;
        }
        if (!response.ok) {
          await response.body?.cancel();
          throw new UpstreamError(`who-am-i answered ${response.status}`);
        }
        let body: unknown;
        try {
          body = await response.json();
        } catch {
          throw new UpstreamError("who-am-i answered invalid JSON");
        }
        const { uid, email } = (body ?? {}) as { uid?: unknown; email?: unknown };
        if (typeof uid !== "string" || uid === "") throw new UpstreamError("who-am-i answer has no uid");
        // Unlike auth-o-tron, the API key itself is not copied into the
        // attributes: it would travel to every backend inside the JWT.
        const user = createUser({
          username: uid,
          realm: config.realm,
          attributes: typeof email === "string" ? { "ecmwf-email": email } : {},
        });
        cache.set(key, structuredClone(user));
        logger.debug("providers.ecmwf_api.validated", { provider: config.name, realm: config.realm, username: uid });
        return user;
      },
    };
  },
};
