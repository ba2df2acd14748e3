// `gatehouse audit`: the audit log of the store (SQLite or PostgreSQL), newest first, with the
// filters of GET /api/v1/audit (event, actor, subject, realm, time range) and
// its cursor paging.
import { MAX_AUDIT_PAGE, auditFilterFrom, auditView } from "../store/audit/query.ts";
import { parseCommand, openCommandStore, storeConfig, type LoadConfig } from "./common.ts";

const USAGE = `usage: gatehouse audit [--event NAME|FAMILY|PREFIX*] [--actor USER] [--subject USER|TOKEN_ID] [--realm R]
                       [--since TIME] [--until TIME] [--limit N] [--cursor C] [--json]
  --event: one event (token.created), a family (token, session, key, regulation: every token.… event),
  or a prefix ending in * (token.rot*); as in the API and the portal.
  TIME: an ISO 8601 date or date-time (2026-11-28, 2026-11-28T10:00Z), or how long ago (90m, 24h, 7d).
  Prints the newest events first; when there are more, the cursor of the next page on stderr.`;

const options = {
  config: { type: "string", short: "c" },
  event: { type: "string" },
  actor: { type: "string" },
  subject: { type: "string" },
  realm: { type: "string" },
  since: { type: "string" },
  until: { type: "string" },
  limit: { type: "string" },
  cursor: { type: "string" },
  json: { type: "boolean" },
} as const;

export async function auditCommand(args: string[], loadConfig: LoadConfig): Promise<number> {
  const parsed = parseCommand(args, options, USAGE);
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  if (positionals.length > 0) {
    console.error(USAGE);
    return 2;
  }
  let limit: number | undefined;
  if (values.limit !== undefined) {
    limit = Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_PAGE) {
      console.error(`audit: --limit must be a whole number from 1 to ${MAX_AUDIT_PAGE}`);
      return 2;
    }
  }
  const filter = auditFilterFrom({ ...values, limit });
  if (typeof filter === "string") {
    console.error(`audit: --${filter}`);
    return 2;
  }
  const config = await storeConfig(values.config, loadConfig, "audit");
  if (!config) return 2;
  const store = await openCommandStore(config, "audit");
  if (!store) return 1;
  try {
    let page;
    try {
      page = await store.read.listAuditPage(filter);
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      console.error(`audit: --${error.message}`);
      return 2;
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
}

/** One line per event: when, what, who, on whom, from where, and the detail. */
function describe(event: ReturnType<typeof auditView>): string {
  const who = (party: { username: string | null; realm: string | null; token_id: string | null }) =>
    [party.username && (party.realm ? `${party.username}@${party.realm}` : party.username), party.token_id].filter(Boolean).join(" ") || "-";
  const detail = event.detail ? ` ${JSON.stringify(event.detail)}` : "";
  return `${event.at}  ${event.event.padEnd(22)} ${who(event.actor)} → ${who(event.subject)}  ${event.address ?? "-"}${detail}`;
}
