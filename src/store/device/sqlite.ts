// The device_authorizations table (RFC 8628 device-code sign-ins, see
// sign-in/device.ts) on SQLite (the PostgreSQL twins: ./pg.ts): the device
// code kept as its SHA-256 only, the user code as typed once normalised, and
// the person who approved it.
import { and, eq, gt, type SQL } from "drizzle-orm";
import { deviceAuthorizations } from "./sqlite-schema.ts";
import { users } from "../users/sqlite-schema.ts";
import type { Executor, Store } from "../database.ts";
import { deviceRecordFields, deviceRecordOf, type DeviceAuthorizationRecord, type DeviceDecision, type DeviceQueries, type NewDeviceAuthorization } from "./model.ts";

function selectOne(db: Executor, where: SQL): DeviceAuthorizationRecord | undefined {
  return deviceRecordOf(
    db.select(deviceRecordFields(deviceAuthorizations, users)).from(deviceAuthorizations).leftJoin(users, eq(users.id, deviceAuthorizations.userId)).where(where).get(),
  );
}

/** The device queries of `Queries` (./model.ts) over one connection, synchronous. */
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
