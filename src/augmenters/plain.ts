// `plain`: role → usernames, as auth-o-tron's (deprecated there) plain augmenter.
import { Type } from "@sinclair/typebox";
import { augmenterSchema, type AugmenterType } from "./augmenter.ts";

const schema = augmenterSchema("plain", "Grants roles to listed usernames", {
  roles: Type.Record(Type.String(), Type.Array(Type.String()), { description: "role → usernames" }),
});

export const plainAugmenter: AugmenterType<typeof schema> = {
  type: "plain",
  schema,
  create(config) {
    // Inverted once at start-up: username → roles.
    const rolesByUser = new Map<string, string[]>();
    for (const [role, usernames] of Object.entries(config.roles)) {
      for (const username of usernames) rolesByUser.set(username, [...(rolesByUser.get(username) ?? []), role]);
    }
    return {
      name: config.name,
      type: "plain",
      realm: config.realm,
      phase: "parallel",
      remote: false,
      augment(user) {
        const roles = rolesByUser.get(user.username);
        return roles ? { roles } : null;
      },
    };
  },
};
