// Who a session's user is, as last read, in a file of its own: the sessions'
// and the device authorizations' tables store it (a JSON column), and the
// family's contract (./model.ts) takes its row types from those tables, so
// neither could hold it without an import circle.
import type { Scopes } from "../../identity/user.ts";

/** A session's user as last read: what a browser handle authenticates as. */
export interface SessionIdentity {
  roles: string[];
  attributes: Record<string, string>;
  scopes: Scopes | null;
}
