// The augmenter interface: adds roles and attributes to an authenticated user.
// Augmenters never remove anything. A new type is one file exporting an
// AugmenterType, plus one line in ./registry.ts.
import { Type, type Static, type TObject, type TSchema } from "@sinclair/typebox";
import type { User } from "../identity/user.ts";
import type { Logger } from "../log.ts";
import type { MaybePromise } from "../identity/maybe-promise.ts";

export interface Additions {
  roles?: string[];
  attributes?: Record<string, string>;
}

export interface Augmenter {
  readonly name: string;
  readonly type: string;
  /** Only users of this realm are augmented. */
  readonly realm: string;
  /**
   * "parallel" augmenters run together first; "after" augmenters run one by
   * one afterwards, so they can match roles the others added (auth-o-tron's
   * plain_advanced ordering).
   */
  readonly phase: "parallel" | "after";
  /** True when it asks a remote service: it then runs under `auth.timeout_in_ms`. */
  readonly remote: boolean;
  augment(user: Readonly<User>, signal: AbortSignal): MaybePromise<Additions | null>;
  close?(): void;
}

export interface AugmenterContext {
  logger: Logger;
}

export interface AugmenterType<S extends TObject = TObject> {
  type: string;
  schema: S;
  create(config: Static<S>, context: AugmenterContext): Augmenter;
}

export function augmenterSchema<T extends Record<string, TSchema>>(type: string, description: string, fields: T) {
  return Type.Object(
    {
      type: Type.Literal(type, { description: "The kind of augmenter" }),
      name: Type.String({ minLength: 1, description: "Unique name, used in logs" }),
      realm: Type.String({ minLength: 1, description: "Only users of this realm are augmented" }),
      ...fields,
    },
    { description, additionalProperties: true },
  );
}
