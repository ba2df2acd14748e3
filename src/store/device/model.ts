// The device family (RFC 8628 device-code sign-ins, see sign-in/device.ts) as
// the services see it, the same on both databases: its part of `Queries`
// (../backend.ts), the records it takes and answers, and how a record is read
// from either database's table. SQLite's queries: ./sqlite.ts; PostgreSQL's:
// ./pg.ts; the tables beside them.
import type { MaybePromise } from "../../identity/maybe-promise.ts";
import type { SessionIdentity } from "../sessions/identity.ts";
import type { deviceAuthorizations } from "./sqlite-schema.ts";

/** The device-authorization queries of `Queries` (../backend.ts). */
export interface DeviceQueries {
  insertDeviceAuthorization(row: NewDeviceAuthorization): MaybePromise<void>;
  /** Whether any row (pending, or ended and not yet purged) holds this user code: the column is unique. */
  userCodeTaken(userCode: string): MaybePromise<boolean>;
  findDeviceAuthorizationByDeviceCode(hash: string): MaybePromise<DeviceAuthorizationRecord | undefined>;
  findDeviceAuthorizationByUserCode(userCode: string): MaybePromise<DeviceAuthorizationRecord | undefined>;
  markDevicePolled(id: string, at: number, interval: number): MaybePromise<void>;
  /** Approves or denies a pending authorization not expired at `now`; false when it was not (any more). */
  decideDeviceAuthorization(id: string, decision: DeviceDecision, now: number): MaybePromise<boolean>;
  /** Approved → collected; false when it was not approved (any more): of two polls, one collects. */
  collectDeviceAuthorization(id: string): MaybePromise<boolean>;
  deleteExpiredDeviceAuthorizations(cutoff: number, limit: number): MaybePromise<number>;
}

export type DeviceStatus = "pending" | "approved" | "denied" | "collected";

/** An authorization, with the name and realm of the person who approved it (null before). */
export interface DeviceAuthorizationRecord {
  id: string;
  userCode: string;
  provider: string;
  status: DeviceStatus;
  address: string | null;
  userAgent: string | null;
  createdAt: number;
  expiresAt: number;
  /** Seconds between polls. */
  interval: number;
  lastPolledAt: number | null;
  approvedAt: number | null;
  approvedBy: { username: string; realm: string; identity: SessionIdentity } | null;
}

export type NewDeviceAuthorization = Omit<typeof deviceAuthorizations.$inferInsert, "status" | "userId" | "identity" | "approvedAt" | "lastPolledAt">;

/** What approving records: who, as their provider described them then. */
export interface DeviceDecision {
  status: "approved" | "denied";
  userId: number | null;
  identity: SessionIdentity | null;
  at: number;
}

/** The columns a record is read from, for either database's tables (SQLite's in ./sqlite.ts, PostgreSQL's in ./pg.ts). */
const DEVICE_COLUMNS = ["id", "userCode", "provider", "status", "address", "userAgent", "createdAt", "expiresAt", "interval", "lastPolledAt", "approvedAt", "identity"] as const;

type DeviceColumn = (typeof DEVICE_COLUMNS)[number];

export function deviceRecordFields<D extends Record<DeviceColumn, unknown>, U extends Record<"username" | "realm", unknown>>(
  device: D,
  user: U,
): Pick<D, DeviceColumn> & Pick<U, "username" | "realm"> {
  const fields = Object.fromEntries(DEVICE_COLUMNS.map((column) => [column, device[column]])) as Pick<D, DeviceColumn>;
  return { ...fields, username: user.username, realm: user.realm };
}

/** A row read with deviceRecordFields (the approver's user left-joined) as a record. */
export function deviceRecordOf(row: Record<string, unknown> | undefined): DeviceAuthorizationRecord | undefined {
  if (!row) return undefined;
  const { username, realm, identity, ...rest } = row as Omit<DeviceAuthorizationRecord, "approvedBy"> & {
    username: string | null;
    realm: string | null;
    identity: SessionIdentity | null;
  };
  return { ...rest, approvedBy: username !== null && realm !== null && identity !== null ? { username, realm, identity } : null };
}
