// Crash rounds, shared by test/crash.test.ts (5 rounds in CI) and
// scripts/crash.ts (`npm run crash -- --rounds 100`).
//
// Each round starts Gatehouse on the same database, runs three kinds of
// writers at once (API token creation, refresh-token rotation, signing-key
// rotation), kills the process with SIGKILL at a random moment, restarts it,
// and checks that:
//   - every token answered 201 authenticates;
//   - every refresh token last answered 200 is still its session's current
//     one and refreshes (or, when a refresh of it was in flight at the kill,
//     was rotated once, the session intact), and the access token that came
//     with it authenticates;
//   - every key answered 202 is there, published, with its private part;
//   - PRAGMA integrity_check is ok, no foreign key is broken, and nothing is
//     half-made (a token without its audit event, a session without a refresh
//     token, two current keys).
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { hashOpaqueToken } from "../src/tokens/format.ts";
import { spawnGatehouse, temporaryDirectory, type RunningGatehouse } from "./helpers/gatehouse.ts";

const CONFIG = `
version: "2.0.0"
logging: { level: info, format: json }
providers:
  - type: plain
    name: local
    realm: local
    users: [{ username: alice, password: alice-pw }, { username: admin, password: admin-pw }]
augmenters:
  - { type: plain, name: roles, realm: local, roles: { admin: [admin] } }
jwt: { iss: crash-test, alg: ES256 }
keys: { publish_ahead: 0 }
store: { enabled: true, type: sqlite, path: ./data/gatehouse.db }
services: [{ name: ecflow, scopes: [read, write] }]
authentication: { max_sessions_per_user: 100000 }
`;
const ALICE = `Basic ${btoa("alice:alice-pw")}`;
const ADMIN = `Basic ${btoa("admin:admin-pw")}`;

export interface CrashOptions {
  rounds: number;
  seed: number;
  progress?: (line: string) => void;
}

export interface CrashReport {
  rounds: number;
  seed: number;
  seconds: number;
  /** Operations answered 2xx before the kills, by kind. */
  acknowledged: { tokens: number; refreshes: number; rotations: number };
  /** Acknowledged operations missing or not working after a restart (must be 0). */
  lost: number;
  /** Refreshes in flight at a kill that the database had committed (their answer was lost with the process). */
  committedUnanswered: number;
  failures: string[];
}

/** mulberry32: a small seeded generator, so that a round's timing can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface SessionState {
  refreshToken: string;
  accessToken: string;
  /** A refresh with `refreshToken` was sent and not answered when the server died. */
  inFlight: boolean;
}

const post = (url: string, authorization: string | undefined, body?: unknown) =>
  fetch(url, {
    method: "POST",
    headers: { ...(authorization ? { authorization } : {}), "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

async function login(url: string): Promise<SessionState> {
  const response = await fetch(`${url}/api/v1/auth/provider/local/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ username: "alice", password: "alice-pw" }),
  });
  if (response.status !== 200) throw new Error(`login answered ${response.status}`);
  const body = (await response.json()) as { access_token: string; refresh_token: string };
  return { refreshToken: body.refresh_token, accessToken: body.access_token, inFlight: false };
}

/** One round: writers, a SIGKILL at a random moment, a restart, the checks. Returns the restarted server. */
async function round(server: RunningGatehouse, dir: string, next: () => number, report: CrashReport): Promise<RunningGatehouse> {
  const url = server.url;
  const sessions = await Promise.all(Array.from({ length: 8 }, () => login(url)));
  const tokens: string[] = [];
  const kids: string[] = [];
  let dead = false;

  async function createTokens(index: number) {
    while (!dead) {
      try {
        const response = await post(`${url}/api/v1/tokens`, ALICE, { note: `crash ${index}`, scopes: { ecflow: ["read"] } });
        if (response.status === 201) tokens.push(((await response.json()) as { token: string }).token);
        else if (!dead) report.failures.push(`token creation answered ${response.status} before the kill`);
      } catch {}
    }
  }
  async function refresh(session: SessionState) {
    while (!dead) {
      session.inFlight = true;
      try {
        const response = await post(`${url}/api/v1/auth/session/refresh`, undefined, { refresh_token: session.refreshToken });
        const body = (await response.json()) as { access_token: string; refresh_token: string };
        if (response.status === 200) {
          session.refreshToken = body.refresh_token;
          session.accessToken = body.access_token;
          report.acknowledged.refreshes++;
          session.inFlight = false;
        } else if (!dead) {
          session.inFlight = false;
          report.failures.push(`refresh answered ${response.status} before the kill`);
          return;
        }
      } catch {
        return; // the server died with the request in flight: inFlight stays true
      }
    }
  }
  async function rotateKeys() {
    while (!dead) {
      try {
        const response = await post(`${url}/api/v1/keys/rotate`, ADMIN);
        if (response.status === 202) kids.push(((await response.json()) as { rotating_to: string }).rotating_to);
        else if (!dead) report.failures.push(`key rotation answered ${response.status} before the kill`);
      } catch {}
      await Bun.sleep(20);
    }
  }

  const writers = [
    ...Array.from({ length: 12 }, (_, index) => createTokens(index)),
    ...sessions.map((session) => refresh(session)),
    rotateKeys(),
  ];
  await Bun.sleep(100 + Math.floor(next() * 900));
  server.process.kill("SIGKILL");
  await server.process.exited;
  dead = true;
  await Promise.all(writers);
  report.acknowledged.tokens += tokens.length;
  report.acknowledged.rotations += kids.length;

  const restarted = await spawnGatehouse({ config: CONFIG, cwd: dir });
  const lose = (what: string) => {
    report.lost++;
    report.failures.push(what);
  };
  for (const token of tokens) {
    const response = await fetch(`${restarted.url}/authenticate`, { headers: { authorization: `Bearer ${token}` } });
    if (response.status !== 200) lose(`token ${token.slice(0, 8)}… answered 201, then ${response.status} after the restart`);
  }
  const database = new Database(join(dir, "data/gatehouse.db"), { readonly: true });
  try {
    for (const session of sessions) {
      const access = await fetch(`${restarted.url}/authenticate`, { headers: { authorization: `Bearer ${session.accessToken}` } });
      if (access.status !== 200) lose(`an acknowledged access token answered ${access.status} after the restart`);
      const row = database
        .query<{ used_at: number | null; session_id: string; successors: number }, [string]>(
          "SELECT used_at, session_id, (SELECT count(*) FROM refresh_tokens later WHERE later.session_id = r.session_id AND later.id > r.id) AS successors FROM refresh_tokens r WHERE hash = ?",
        )
        .get(hashOpaqueToken(session.refreshToken));
      if (!row) {
        lose("an acknowledged refresh token is missing after the restart");
        continue;
      }
      if (row.used_at !== null) {
        // Rotated by the request in flight at the kill: committed, answer lost. Only then is this allowed.
        if (!session.inFlight || row.successors !== 1) lose(`an acknowledged refresh token was used (in flight: ${session.inFlight}, successors: ${row.successors})`);
        else report.committedUnanswered++;
        continue;
      }
      const response = await post(`${restarted.url}/api/v1/auth/session/refresh`, undefined, { refresh_token: session.refreshToken });
      if (response.status !== 200) lose(`an acknowledged refresh token answered ${response.status} after the restart`);
      else await response.body?.cancel();
    }
    const listed = (await (await fetch(`${restarted.url}/api/v1/keys`, { headers: { authorization: ADMIN } })).json()) as { keys: { kid: string; state: string }[] };
    const states = new Map(listed.keys.map((key) => [key.kid, key.state]));
    for (const kid of kids) {
      if (!["next", "current", "previous"].includes(states.get(kid) ?? "missing")) lose(`key ${kid.slice(0, 8)}… answered 202, then ${states.get(kid) ?? "missing"} after the restart`);
    }
    checkDatabase(database, report);
  } finally {
    database.close();
  }
  return restarted;
}

function checkDatabase(database: Database, report: CrashReport): void {
  const problems: string[] = [];
  const integrity = database.query<{ integrity_check: string }, []>("PRAGMA integrity_check").all();
  if (integrity.length !== 1 || integrity[0].integrity_check !== "ok") problems.push(`integrity_check: ${JSON.stringify(integrity)}`);
  const foreign = database.query("PRAGMA foreign_key_check").all();
  if (foreign.length) problems.push(`foreign_key_check: ${JSON.stringify(foreign.slice(0, 3))}`);
  const half = database
    .query<Record<string, number>, []>(
      `SELECT
        (SELECT count(*) FROM tokens) - (SELECT count(*) FROM audit_log WHERE event = 'token.created') AS tokens_without_event,
        (SELECT count(*) FROM tokens t WHERE NOT EXISTS (SELECT 1 FROM token_first_eight f WHERE f.token_id = t.id)) AS tokens_without_first_eight,
        (SELECT count(*) FROM sessions s WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.session_id = s.id)) AS sessions_without_refresh_token,
        (SELECT count(*) FROM sessions s WHERE s.revoked_at IS NULL AND (SELECT count(*) FROM refresh_tokens r WHERE r.session_id = s.id AND r.used_at IS NULL) <> 1) AS live_sessions_without_one_current_token,
        (SELECT count(*) FROM signing_keys WHERE state = 'current') - 1 AS extra_current_keys,
        (SELECT count(*) FROM signing_keys WHERE state <> 'retired' AND (private_key_sealed IS NULL OR private_key_sealed = '')) AS keys_without_private_part`,
    )
    .get()!;
  for (const [name, count] of Object.entries(half)) if (count !== 0) problems.push(`${name}: ${count}`);
  if (problems.length) {
    report.lost += problems.length;
    report.failures.push(...problems);
  }
}

export async function runCrashRounds(options: CrashOptions): Promise<CrashReport> {
  const next = random(options.seed);
  const dir = temporaryDirectory("gatehouse-crash-");
  const report: CrashReport = {
    rounds: 0,
    seed: options.seed,
    seconds: 0,
    acknowledged: { tokens: 0, refreshes: 0, rotations: 0 },
    lost: 0,
    committedUnanswered: 0,
    failures: [],
  };
  const started = performance.now();
  let server = await spawnGatehouse({ config: CONFIG, cwd: dir });
  try {
    for (let index = 0; index < options.rounds; index++) {
      server = await round(server, dir, next, report);
      report.rounds++;
      options.progress?.(`round ${report.rounds}: ${JSON.stringify(report.acknowledged)} acknowledged, ${report.lost} lost`);
      if (report.failures.length > 20) break;
    }
  } finally {
    await server.stop();
    report.seconds = Math.round((performance.now() - started) / 100) / 10;
  }
  return report;
}
