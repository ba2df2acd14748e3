// `ecmwf-api`: validates an ECMWF API key with `GET {uri}/who-am-i?token=KEY`
// (caching, refusals and logging in key-service.ts).
import { Type } from "@sinclair/typebox";
import { providerSchema, type ProviderType } from "./provider.ts";
import { createKeyServiceProvider } from "./key-service.ts";

const schema = providerSchema("ecmwf-api", "ECMWF API keys, checked against the who-am-i service (Bearer)", {
  uri: Type.String({ pattern: "^https?://", description: "Base URL of the ECMWF API, e.g. https://api.ecmwf.int/v1" }),
  cache_seconds: Type.Integer({ minimum: 0, default: 60, description: "How long a valid key's answer is cached" }),
});

export const ecmwfApiProvider: ProviderType<typeof schema> = {
  type: "ecmwf-api",
  schema,
  create(config, { logger }) {
    const base = config.uri.replace(/\/+$/, "");
    return createKeyServiceProvider({
      type: "ecmwf-api",
      name: config.name,
      realm: config.realm,
      cacheSeconds: config.cache_seconds,
      service: "who-am-i",
      urlFor: (key) => `${base}/who-am-i?token=${encodeURIComponent(key)}`,
      // Unlike auth-o-tron, the API key itself is not copied into the
      // attributes: it would travel to every backend inside the JWT.
      userFrom: ({ uid, email }) =>
        typeof uid === "string" && uid !== ""
          ? { username: uid, attributes: typeof email === "string" ? { "ecmwf-email": email } : undefined }
          : "answer has no uid",
      logger,
    });
  },
};
