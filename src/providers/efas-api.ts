// `efas-api`: validates an EFAS API token with `GET {uri}?token=TOKEN`, whose
// answer is `{username, roles, email}` (auth-o-tron's efasapi_provider.rs).
// Caching, refusals and logging as `ecmwf-api` (key-service.ts).
import { Type } from "@sinclair/typebox";
import { providerSchema, type ProviderType } from "./provider.ts";
import { createKeyServiceProvider } from "./key-service.ts";

const schema = providerSchema("efas-api", "EFAS API tokens, checked against the EFAS user-details service (Bearer)", {
  uri: Type.String({ pattern: "^https?://", description: "URL of the EFAS user-details service; asked as {uri}?token=…" }),
  cache_seconds: Type.Integer({ minimum: 0, default: 60, description: "How long a valid token's answer is cached" }),
});

const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === "string");

export const efasApiProvider: ProviderType<typeof schema> = {
  type: "efas-api",
  schema,
  create(config, { logger }) {
    const separator = config.uri.includes("?") ? "&" : "?";
    return createKeyServiceProvider({
      type: "efas-api",
      name: config.name,
      realm: config.realm,
      cacheSeconds: config.cache_seconds,
      service: "EFAS user-details",
      urlFor: (token) => `${config.uri}${separator}token=${encodeURIComponent(token)}`,
      userFrom: ({ username, roles, email }) => {
        if (typeof username !== "string" || username === "") return "answer has no username";
        if (roles !== undefined && roles !== null && !isStringArray(roles)) return "answer's roles are not a list of strings";
        return { username, roles: roles ?? [], attributes: typeof email === "string" ? { email } : undefined };
      },
      logger,
    });
  },
};
