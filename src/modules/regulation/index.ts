// Regulation's API, for administrators: the bans in force and their release
// before their time (an admin's answer to "the right password gets 401 for 5
// minutes"), the same as `gatehouse regulation list|release` and the portal's
// admin page. A release is audited (regulation.released, by the admin) and in
// force at once on this instance, within the store's change polling on the
// others.
//
//   GET  /api/v1/regulation/bans       the bans in force, soonest to end first
//   POST /api/v1/regulation/release    {username, realm?} or {address}: its bans end now
import { Elysia, t } from "elysia";
import type { Logger } from "../../log.ts";
import { Refusal } from "../../refusal.ts";
import { describeBanTarget, type ActiveBan, type Regulator } from "../../regulation/regulator.ts";
import type { callerPlugin } from "../caller.ts";
import { answerErrors, parseJsonObject } from "../errors.ts";
import { ErrorModel } from "../http.ts";

export interface RegulationDeps {
  caller: ReturnType<typeof callerPlugin>;
  /** null when regulation is off (regulation.enabled: false): the routes answer 409. */
  regulator: Regulator | null;
  logger: Logger;
}

const BanModel = t.Object({
  kind: t.Union([t.Literal("username"), t.Literal("address")]),
  subject: t.String({ description: "As counted: realm:name for a username (the name in lower case), the address for an address" }),
  username: t.Union([t.String(), t.Null()]),
  realm: t.Union([t.String(), t.Null()]),
  address: t.Union([t.String(), t.Null()]),
  until: t.String({ description: "ISO 8601: when the ban ends by itself" }),
  retry_after: t.Integer({ description: "Seconds until then" }),
});
const BansModel = t.Object({ bans: t.Array(BanModel) });
const ReleaseBody = t.Union(
  [
    t.Object({ username: t.String({ minLength: 1, maxLength: 256 }), realm: t.Optional(t.String({ minLength: 1, maxLength: 256 })) }, { additionalProperties: false }),
    t.Object({ address: t.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false }),
  ],
  { error: "Give {username, realm?} or {address}" },
);
const ReleasedModel = t.Object({ released: t.Array(BanModel) });

/** A ban as the API shows it. */
export function banView(ban: ActiveBan, now = Date.now()) {
  return {
    kind: ban.kind,
    subject: ban.subject,
    username: ban.targetUsername,
    realm: ban.targetRealm,
    address: ban.address,
    until: new Date(ban.until).toISOString(),
    retry_after: Math.max(1, Math.ceil((ban.until - now) / 1000)),
  };
}

/** The regulator, or the refusal of a process whose regulation is off. */
export function regulatorOf(regulator: Regulator | null): Regulator {
  if (!regulator) throw new Refusal(409, "Regulation is off here (regulation.enabled: false): there are no bans");
  return regulator;
}

export function regulationModule({ caller, regulator, logger }: RegulationDeps) {
  return new Elysia({ name: "regulation" })
    .use(caller)
    .onError(answerErrors("error", logger))
    .onAfterHandle(({ set }) => {
      set.headers["cache-control"] = "no-store";
    })
    .get("/api/v1/regulation/bans", async () => ({ bans: (await regulatorOf(regulator).activeBans()).map((ban) => banView(ban)) }), {
      admin: true,
      response: { 200: BansModel, 401: ErrorModel, 403: ErrorModel, 409: ErrorModel },
      detail: { summary: "The bans in force (administrators), soonest to end first" },
    })
    .post(
      "/api/v1/regulation/release",
      async ({ body, actor }) => {
        const released = await regulatorOf(regulator).releaseMatching(actor, body);
        if (released.length === 0) throw new Refusal(404, `No ban in force for ${describeBanTarget(body)}`);
        return { released: released.map((ban) => banView(ban)) };
      },
      {
        admin: true,
        // As every JSON route: bounded, a JSON object, read only as application/json (no cross-site form).
        parse: parseJsonObject,
        body: ReleaseBody,
        response: { 200: ReleasedModel, 400: ErrorModel, 401: ErrorModel, 403: ErrorModel, 404: ErrorModel, 409: ErrorModel },
        detail: { summary: "Ends a username's or an address's bans now (administrators); audited as regulation.released" },
      },
    );
}
