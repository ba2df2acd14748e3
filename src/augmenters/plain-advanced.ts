// `plain_advanced`: when the username or one of the user's roles matches, add
// roles and attributes. Runs after the other augmenters so it can match the
// roles they added.
import { Type } from "@sinclair/typebox";
import { augmenterSchema, type AugmenterType } from "./augmenter.ts";

const schema = augmenterSchema("plain_advanced", "Adds roles and attributes to users matched by username or role", {
  match: Type.Object(
    {
      username: Type.Optional(Type.Array(Type.String(), { description: "Usernames matched" })),
      role: Type.Optional(Type.Array(Type.String(), { description: "Roles matched: a user holding one of them" })),
    },
    { additionalProperties: false, description: "Which users are augmented: those whose username or one of whose roles is listed" },
  ),
  augment: Type.Object(
    {
      roles: Type.Optional(Type.Array(Type.String(), { description: "Roles added" })),
      attributes: Type.Optional(Type.Record(Type.String(), Type.String(), { description: "Attributes set (name → value)" })),
    },
    { additionalProperties: false, description: "What the matched users get" },
  ),
});

export const plainAdvancedAugmenter: AugmenterType<typeof schema> = {
  type: "plain_advanced",
  schema,
  create(config) {
    const usernames = new Set(config.match.username ?? []);
    const roles = new Set(config.match.role ?? []);
    return {
      name: config.name,
      type: "plain_advanced",
      realm: config.realm,
      phase: "after",
      remote: false,
      augment(user) {
        const matches = usernames.has(user.username) || user.roles.some((role) => roles.has(role));
        return matches ? { roles: config.augment.roles, attributes: config.augment.attributes } : null;
      },
    };
  },
};
