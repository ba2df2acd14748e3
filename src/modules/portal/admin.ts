// The portal's pages for administrators (./index.ts lists them all):
//
//   GET  /portal/admin/users          everyone, paged, sorted by last sign-in (?sort=name|seen, ?page=N)
//   GET  /portal/admin/users?user=    a user's tokens and sessions
//   GET  /portal/admin/keys           signing keys             POST /portal/admin/keys/rotate
//   GET  /portal/admin/audit          the audit log, filtered and paged
import { Elysia } from "elysia";
import type { KeySet } from "../../keys/keyset.ts";
import type { ManagedKeySet } from "../../keys/managed.ts";
import { Refusal } from "../../refusal.ts";
import type { SessionService } from "../../sessions/service.ts";
import type { StoreBackend } from "../../store/backend.ts";
import type { TokenPolicy, TokenService } from "../../tokens/service.ts";
import type { callerPlugin } from "../caller.ts";
import { keyViews } from "../keys/index.ts";
import { DATE, field, FormBody, parseForm } from "./forms.ts";
import { doneMessage, type PortalPages } from "./pages.ts";
import { tokenActions } from "./tokens.ts";
import { userListView } from "./admin-views.ts";
import { html } from "./html.ts";
import type { UserListOrder } from "../../store/users/model.ts";
import { auditView, keysView, usersView, type AuditQuery } from "./views.ts";

export interface AdminPagesDeps {
  caller: ReturnType<typeof callerPlugin>;
  tokens: TokenService;
  sessions: SessionService;
  store: StoreBackend;
  tokenPolicy: TokenPolicy;
  keys: { keySet: KeySet; managed: ManagedKeySet | null };
  pages: PortalPages;
}

const AUDIT_PAGE = 50;
const DAY_MS = 86_400_000;

const usersPath = (user: string, realm: string) => `admin/users?${new URLSearchParams(realm ? { user, realm } : { user })}`;

const USERS_PAGE = 50;
const ORDERS: readonly UserListOrder[] = ["sign-in", "name", "seen"];

export function adminPages({ caller, tokens, sessions, store, tokenPolicy, keys, pages }: AdminPagesDeps) {
  const { person, redirect } = pages;
  const actions = tokenActions(tokenPolicy);

  /** Everyone in the store, one page (?sort=sign-in|name|seen, ?page=N from 1). */
  async function userList(query: Record<string, string | undefined>) {
    const order = ORDERS.find((known) => known === query.sort) ?? "sign-in";
    const page = Math.min(Math.max(1, Math.floor(Number(query.page) || 1)), 100_000);
    const rows = await store.read.listUsers({ order, limit: USERS_PAGE + 1, offset: (page - 1) * USERS_PAGE, now: Date.now() });
    const link = (to: number, by = order) => `admin/users?${new URLSearchParams({ sort: by, ...(to > 1 ? { page: String(to) } : {}) })}`;
    return userListView(rows.slice(0, USERS_PAGE), order, {
      previous: page > 1 ? link(page - 1) : null,
      next: rows.length > USERS_PAGE ? link(page + 1) : null,
      sorted: (by) => link(1, by),
    });
  }
  return new Elysia({ name: "portal-admin" })
    .use(caller)
    .get(
      "/portal/admin/users",
      async ({ request, query, ...found }) => {
        const me = person(request, found);
        const user = (query.user ?? "").trim();
        const realm = (query.realm ?? "").trim();
        const filter = { username: user, realm: realm || undefined };
        const result = user
          ? { tokens: await tokens.list(me.actor, { ...filter, includeRevoked: true }), sessions: await sessions.list(me.actor, filter) }
          : null;
        const done = doneMessage(query, { revoked: "Revoked." });
        const view = usersView({ user, realm }, result, me.frame.csrf, usersPath(user, realm), actions, done);
        return pages.answer(request, 200, "Users", result ? view : html`${view}${await userList(query)}`, me.frame, "admin/users");
      },
      { admin: true },
    )
    .get(
      "/portal/admin/keys",
      async ({ request, query, ...found }) => {
        const me = person(request, found);
        const done = query.done === "rotated" ? "Rotation started: the new key is published now and signs once backends have had time to fetch it." : undefined;
        return pages.answer(request, 200, "Signing keys", keysView(keys.keySet.mode, keys.managed ? await keyViews(keys.managed) : null, me.frame.csrf, done), me.frame, "admin/keys");
      },
      { admin: true },
    )
    .post(
      "/portal/admin/keys/rotate",
      async ({ request, body, ...found }) => {
        const me = person(request, found);
        if (!keys.managed) throw new Refusal(409, "Keys are shared secrets (jwt.secret): rotate them by editing jwt.secrets");
        if (field(body, "confirm") !== "yes") throw new Refusal(400, "Tick the box to confirm the rotation");
        await keys.managed.rotate(me.actor);
        return redirect(request, "admin/keys?done=rotated");
      },
      { admin: true, parse: parseForm, body: FormBody },
    )
    .get(
      "/portal/admin/audit",
      async ({ request, query, ...found }) => {
        const me = person(request, found);
        const filter: AuditQuery = {
          event: (query.event ?? "").trim(),
          actor: (query.actor ?? "").trim(),
          subject: (query.subject ?? "").trim(),
          from: DATE.test(query.from ?? "") ? query.from! : "",
          to: DATE.test(query.to ?? "") ? query.to! : "",
        };
        const before = Number(query.before);
        const rows = await store.read.searchAudit({
          event: filter.event || undefined,
          actor: filter.actor || undefined,
          subject: filter.subject || undefined,
          from: filter.from ? Date.parse(`${filter.from}T00:00:00Z`) : undefined,
          to: filter.to ? Date.parse(`${filter.to}T00:00:00Z`) + DAY_MS : undefined,
          before: Number.isInteger(before) && before > 0 ? before : undefined,
          limit: AUDIT_PAGE + 1,
        });
        const page = rows.slice(0, AUDIT_PAGE);
        const kept = Object.fromEntries(Object.entries(filter).filter(([, value]) => value !== ""));
        const link = (extra: Record<string, string>) => `admin/audit?${new URLSearchParams({ ...kept, ...extra })}`;
        const links = {
          next: rows.length > AUDIT_PAGE ? link({ before: String(page[page.length - 1].id) }) : null,
          newest: query.before ? link({}) : null,
        };
        return pages.answer(request, 200, "Audit log", auditView(filter, page, links), me.frame, "admin/audit");
      },
      { admin: true },
    );
}
