// Whoever asks a service to do something: a user calling over HTTP (built
// once, by the caller plugin in modules/caller.ts), or the operator on the
// host (the CLI). Services decide with it what may be done, and name it in
// the audit log.
import { readFileSync } from "node:fs";
import { userInfo } from "node:os";
import type { ClientAddress } from "./client.ts";
import type { Scopes } from "./user.ts";

/** A user, by the pair that identifies them everywhere. */
export interface Owner {
  username: string;
  realm: string;
}

/** The API token a request came with: it bounds what may be created with it. */
export interface ActorToken {
  id: string;
  /** null: unrestricted. */
  scopes: Scopes | null;
  /** ms since the epoch; null: never expires. */
  expiresAt: number | null;
  /** The session it was made in, which the tokens it makes record too. */
  sessionId?: string | null;
  /** The CIDR blocks it is limited to (JSON, as stored), which the tokens it makes may only narrow; null: none. */
  networks?: string | null;
}

export interface Actor {
  /** null for the operator on the host. */
  user: Owner | null;
  /** Administers every user's tokens, sessions and the keys. */
  admin: boolean;
  /** The scopes the actor holds; undefined when not restricted (a direct login, the operator). */
  scopes?: Scopes;
  /** The API token the actor authenticated with, if any. */
  token?: ActorToken;
  /** The session whose access token the actor authenticated with, if any. */
  sessionId?: string;
  /** How the actor is named in the audit log when `user` is null. */
  operator?: string;
  client: ClientAddress;
}

/**
 * Who runs this command on the host: $USER, else $LOGNAME, else the login name of the process's
 * user as the system knows it (a container or a cron job often has neither variable), else
 * "unknown". Bun's os.userInfo() answers "unknown" without $USER, so the passwd file is asked.
 */
export function loginName(env: Record<string, string | undefined> = process.env, passwd = "/etc/passwd"): string {
  if (env.USER) return env.USER;
  if (env.LOGNAME) return env.LOGNAME;
  try {
    const fromNode = userInfo().username;
    if (fromNode && fromNode !== "unknown") return fromNode;
  } catch {
    // a uid without a passwd entry: node throws
  }
  const uid = process.getuid?.();
  if (uid === undefined) return "unknown";
  try {
    const entry = readFileSync(passwd, "utf8")
      .split("\n")
      .map((line) => line.split(":"))
      .find((fields) => fields[2] === String(uid));
    return entry?.[0] || "unknown";
  } catch {
    return "unknown";
  }
}

/** The operator on the host running a command (`gatehouse tokens revoke`): named `cli:<login>` in the audit log, from the address "cli". */
export function operatorActor(login = loginName()): Actor {
  return { user: null, admin: true, operator: `cli:${login}`, client: { socket: "cli", reported: null } };
}

/** Is this the actor's own? */
export function owns(actor: Actor, owner: Owner): boolean {
  return actor.user !== null && actor.user.username === owner.username && actor.user.realm === owner.realm;
}

/** May the actor see and end this owner's tokens and sessions? Their own, or anyone's for an admin. */
export function mayManage(actor: Actor, owner: Owner): boolean {
  return actor.admin || owns(actor, owner);
}
