// The device_authorizations table (RFC 8628 device-code sign-ins, see
// sign-in/device.ts): the device code kept as its SHA-256 only, the user code
// as typed once normalised, and the person who approved it.
import { and, eq, gt, type SQL } from "drizzle-orm";
import { deviceAuthorizations, users, type SessionIdentity } from "./schema.ts";
import type { Executor, Store } from "./database.ts";
import type { Queries } from "./backend.ts";

/** The queries of this table family (declared in `Queries`, ../backend.ts). */
export type DeviceQueries = Pick<
  Queries,
  | "insertDeviceAuthorization"
  | "userCodeTaken"
  | "findDeviceAuthorizationByDeviceCode"
  | "findDeviceAuthorizationByUserCode"
  | "markDevicePolled"
  | "decideDeviceAuthorization"
  | "collectDeviceAuthorization"
  | "deleteExpiredDeviceAuthorizations"
>;

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

/** The columns a record is read from, for either database's tables (SQLite's here, PostgreSQL's in ./pg/queries.ts). */
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

function selectOne(db: Executor, where: SQL): DeviceAuthorizationRecord | undefined {
  return deviceRecordOf(
    db.select(deviceRecordFields(deviceAuthorizations, users)).from(deviceAuthorizations).leftJoin(users, eq(users.id, deviceAuthorizations.userId)).where(where).get(),
  );
}

/** The device queries of `Queries` (../backend.ts) on SQLite. */
export function sqliteDeviceQueries(store: Store): DeviceQueries {
  const { db } = store;
  return {
    insertDeviceAuthorization(row: NewDeviceAuthorization): void {
      db.insert(deviceAuthorizations).values({ ...row, status: "pending" }).run();
    },
    userCodeTaken(userCode: string): boolean {
      return db.select({ id: deviceAuthorizations.id }).from(deviceAuthorizations).where(eq(deviceAuthorizations.userCode, userCode)).get() !== undefined;
    },
    findDeviceAuthorizationByDeviceCode(hash: string): DeviceAuthorizationRecord | undefined {
      return selectOne(db, eq(deviceAuthorizations.deviceCodeHash, hash));
    },
    findDeviceAuthorizationByUserCode(userCode: string): DeviceAuthorizationRecord | undefined {
      return selectOne(db, eq(deviceAuthorizations.userCode, userCode));
    },
    markDevicePolled(id: string, at: number, interval: number): void {
      db.update(deviceAuthorizations).set({ lastPolledAt: at, interval }).where(eq(deviceAuthorizations.id, id)).run();
    },
    decideDeviceAuthorization(id: string, decision: DeviceDecision, now: number): boolean {
      const { status, userId, identity, at } = decision;
      const changed = db
        .update(deviceAuthorizations)
        .set({ status, userId, identity, approvedAt: at })
        .where(and(eq(deviceAuthorizations.id, id), eq(deviceAuthorizations.status, "pending"), gt(deviceAuthorizations.expiresAt, now)))
        .returning({ id: deviceAuthorizations.id })
        .all();
      return changed.length > 0;
    },
    collectDeviceAuthorization(id: string): boolean {
      const changed = db
        .update(deviceAuthorizations)
        .set({ status: "collected" })
        .where(and(eq(deviceAuthorizations.id, id), eq(deviceAuthorizations.status, "approved")))
        .returning({ id: deviceAuthorizations.id })
        .all();
      return changed.length > 0;
    },
    // Whatever their status: an authorization is of no use once expired.
    deleteExpiredDeviceAuthorizations(cutoff: number, limit: number): number {
      return store.sqlite
        .query<unknown, [number, number]>("DELETE FROM device_authorizations WHERE id IN (SELECT id FROM device_authorizations WHERE expires_at < ?1 LIMIT ?2)")
        .run(cutoff, limit).changes;
    },
  };
}
