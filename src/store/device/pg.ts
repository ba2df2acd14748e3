// Device authorizations (RFC 8628 device-code sign-ins) on PostgreSQL: the
// same semantics as ./sqlite.ts, query for query (the dialect's differences:
// ../pg/sql.ts). The conditional UPDATEs give concurrent instances one winner:
// a second transaction updating the same row waits for the first to commit,
// then re-checks the status it filters on (READ COMMITTED) and changes nothing.
import { and, eq, gt, sql, type SQL } from "drizzle-orm";
import { deviceAuthorizations } from "./pg-schema.ts";
import { users } from "../users/pg-schema.ts";
import { deleted, type PgExecutor } from "../pg/sql.ts";
import { deviceRecordFields, deviceRecordOf, type DeviceQueries } from "./model.ts";

/** The device queries of `Queries` (./model.ts) over the pool or one transaction. */
export function pgDeviceQueries(db: PgExecutor): DeviceQueries {
  const selectOne = async (where: SQL) =>
    deviceRecordOf(
      (await db.select(deviceRecordFields(deviceAuthorizations, users)).from(deviceAuthorizations).leftJoin(users, eq(users.id, deviceAuthorizations.userId)).where(where))[0],
    );
  return {
    async insertDeviceAuthorization(row) {
      await db.insert(deviceAuthorizations).values({ ...row, status: "pending" });
    },
    async userCodeTaken(userCode) {
      return (await db.select({ id: deviceAuthorizations.id }).from(deviceAuthorizations).where(eq(deviceAuthorizations.userCode, userCode))).length > 0;
    },
    findDeviceAuthorizationByDeviceCode: (hash) => selectOne(eq(deviceAuthorizations.deviceCodeHash, hash)),
    findDeviceAuthorizationByUserCode: (userCode) => selectOne(eq(deviceAuthorizations.userCode, userCode)),
    async markDevicePolled(id, at, interval) {
      await db.update(deviceAuthorizations).set({ lastPolledAt: at, interval }).where(eq(deviceAuthorizations.id, id));
    },
    async decideDeviceAuthorization(id, { status, userId, identity, at }, now) {
      const changed = await db
        .update(deviceAuthorizations)
        .set({ status, userId, identity, approvedAt: at })
        .where(and(eq(deviceAuthorizations.id, id), eq(deviceAuthorizations.status, "pending"), gt(deviceAuthorizations.expiresAt, now)))
        .returning({ id: deviceAuthorizations.id });
      return changed.length > 0;
    },
    async collectDeviceAuthorization(id) {
      const changed = await db
        .update(deviceAuthorizations)
        .set({ status: "collected" })
        .where(and(eq(deviceAuthorizations.id, id), eq(deviceAuthorizations.status, "approved")))
        .returning({ id: deviceAuthorizations.id });
      return changed.length > 0;
    },
    deleteExpiredDeviceAuthorizations(cutoff, limit) {
      return deleted(db, sql`
        DELETE FROM device_authorizations WHERE id IN (
          SELECT id FROM device_authorizations WHERE expires_at < ${cutoff}::bigint
          LIMIT ${limit} FOR UPDATE SKIP LOCKED)`);
    },
  };
}
