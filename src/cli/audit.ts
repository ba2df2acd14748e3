// `gatehouse audit`: the audit log of the store (SQLite or PostgreSQL), newest first, with the
// filters of GET /api/v1/audit (event, actor, subject, realm, time range) and
// its cursor paging.
import { MAX_AUDIT_PAGE, auditFilterFrom, auditView } from "../store/audit/query.ts";
import { openCommandStore, storeConfig } from "./common.ts";
import { CONFIG_FLAG, JSON_FLAG, defineCommand, usageError } from "./help.ts";

export const auditCommand = defineCommand(
  {
    name: "audit",
    summary: "the audit log, newest first, with the filters of GET /api/v1/audit",
    args: "[options]",
    description:
      "TIME: an ISO 8601 date or date-time (2026-11-28, 2026-11-28T10:00Z), or how long ago (90m, 24h, 7d).\n" +
      "When there are more events than --limit, the cursor of the next page is printed on stderr.",
    flags: [
      CONFIG_FLAG,
      { name: "event", type: "string", value: "NAME|FAMILY|PREFIX*", description: "one event (token.created), a family (token, session, key, regulation: every token.… event), or a prefix ending in * (token.rot*); as in the API and the portal" },
      { name: "actor", type: "string", value: "USER", description: "only events done by this user" },
      { name: "subject", type: "string", value: "USER|TOKEN_ID", description: "only events done to this user or token" },
      { name: "realm", type: "string", value: "R", description: "only this realm's events" },
      { name: "since", type: "string", value: "TIME", description: "only events at or after TIME" },
      { name: "until", type: "string", value: "TIME", description: "only events before TIME" },
      { name: "limit", type: "string", value: "N", description: `at most N events (1 to ${MAX_AUDIT_PAGE})` },
      { name: "cursor", type: "string", value: "C", description: "the next page, from the cursor a previous page printed" },
      JSON_FLAG,
    ],
  },
  async ({ values, positionals }) => {
    let limit: number | undefined;
    if (values.limit !== undefined) {
      limit = Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_PAGE) {
        return usageError("audit", `--limit must be a whole number from 1 to ${MAX_AUDIT_PAGE}`);
      }
    }
    const filter = auditFilterFrom({ ...values, limit });
    if (typeof filter === "string") return usageError("audit", `--${filter}`);
    const config = await storeConfig(values.config, "audit");
    if (!config) return 2;
    const store = await openCommandStore(config, "audit");
    if (!store) return 1;
    try {
      let page;
      try {
        page = await store.read.listAuditPage(filter);
      } catch (error) {
        if (!(error instanceof RangeError)) throw error;
        return usageError("audit", `--${error.message}`);
      }
      const events = page.events.map(auditView);
      if (values.json) {
        console.log(JSON.stringify({ events, next_cursor: page.nextCursor }, null, 2));
      } else {
        for (const event of events) console.log(describe(event));
        if (events.length === 0) console.log("no events");
        if (page.nextCursor) console.error(`more: gatehouse audit --cursor ${page.nextCursor} (with the same filters)`);
      }
      return 0;
    } finally {
      await store.close();
    }
  },
);

/** One line per event: when, what, who, on whom, from where, and the detail. */
function describe(event: ReturnType<typeof auditView>): string {
  const who = (party: { username: string | null; realm: string | null; token_id: string | null }) =>
    [party.username && (party.realm ? `${party.username}@${party.realm}` : party.username), party.token_id].filter(Boolean).join(" ") || "-";
  const detail = event.detail ? ` ${JSON.stringify(event.detail)}` : "";
  return `${event.at}  ${event.event.padEnd(22)} ${who(event.actor)} → ${who(event.subject)}  ${event.address ?? "-"}${detail}`;
}
