// The identity every provider produces and every augmenter enriches.
// Field names follow auth-o-tron's User so that JWT claims keep their shape.

export type Scopes = Record<string, string[]>;

export interface User {
  username: string;
  realm: string;
  roles: string[];
  attributes: Record<string, string>;
  /** service → scopes; absent when the credential carries no restriction. */
  scopes?: Scopes;
}

export function createUser(fields: { username: string; realm: string } & Partial<User>): User {
  return {
    username: fields.username,
    realm: fields.realm,
    roles: fields.roles ? [...new Set(fields.roles)] : [],
    attributes: { ...fields.attributes },
    ...(fields.scopes ? { scopes: fields.scopes } : {}),
  };
}

/** Adds roles and attributes; never removes (augmenters only ever grant). */
export function addToUser(user: User, additions: { roles?: string[]; attributes?: Record<string, string> }): void {
  if (additions.roles) {
    for (const role of additions.roles) if (!user.roles.includes(role)) user.roles.push(role);
  }
  if (additions.attributes) Object.assign(user.attributes, additions.attributes);
}
