// Leak reports (issue 23 § 3): GitHub's secret-scanning partner programme
// posts the Gatehouse tokens it finds in public to POST
// /api/v1/tokens/report-leak, signed with ECDSA (P-256, SHA-256, DER, base64
// in Github-Public-Key-Signature) under the key Github-Public-Key-Identifier
// names, one of the public keys GitHub publishes (tokens.leaks.github_keys_url,
// or a copy in tokens.leaks.github_keys_file). The reports are a JSON list of
// {token, type, url, source}; the answer lists each with GitHub's label,
// naming the token by its SHA-256, never echoing it.
import { createPublicKey, verify, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Logger } from "../log.ts";
import { Refusal } from "../refusal.ts";

export interface LeakReport {
  token: string;
  type: string;
  url: string | null;
  source: string | null;
}

/** GitHub's feedback for one report. */
export interface LeakVerdict {
  token_hash: string;
  token_type: string;
  label: "true_positive" | "false_positive";
}

export const MAX_LEAK_REPORTS = 1000;
const MAX_FIELD = 2048;

/** The reports of a request body (GitHub's format, or an operator's scanner's plain list in the same shape), or a 400. */
export function parseLeakReports(text: string): LeakReport[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Refusal(400, "The request body is not valid JSON");
  }
  if (!Array.isArray(value)) throw new Refusal(400, 'The request body must be a JSON list of {"token", "type", "url", "source"}');
  if (value.length > MAX_LEAK_REPORTS) throw new Refusal(400, `At most ${MAX_LEAK_REPORTS} reports a request`);
  return value.map((entry, index) => {
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) throw new Refusal(400, `reports[${index}]: an object with "token"`);
    const { token, type, url, source } = entry as Record<string, unknown>;
    if (typeof token !== "string" || token.length === 0 || token.length > MAX_FIELD) throw new Refusal(400, `reports[${index}].token: a non-empty string`);
    const text = (field: unknown, name: string) => {
      if (field === undefined || field === null) return null;
      if (typeof field !== "string" || field.length > MAX_FIELD) throw new Refusal(400, `reports[${index}].${name}: a string of at most ${MAX_FIELD} characters`);
      return field;
    };
    return { token, type: text(type, "type") ?? "gatehouse_api_token", url: text(url, "url"), source: text(source, "source") };
  });
}

/** What the owner reads as the reason of the revocation: the URL only when it is one (it is shown in the portal). */
export function leakReason(report: LeakReport): string {
  const url = report.url && /^https?:\/\/[^\s"<>]+$/.test(report.url) ? report.url : null;
  return url ? `found public at ${url}` : `found public${report.source ? ` (${report.source.slice(0, 100)})` : ""}`;
}

export interface GithubKeySource {
  url?: string;
  file?: string;
}

/**
 * GitHub's public keys, by identifier: read from the file, or fetched from
 * the URL (its JSON is `{"public_keys": [{"key_identifier", "key", …}]}`,
 * the file's too). A signature under an identifier not known makes one new
 * fetch, at most once a minute (GitHub rotates its keys), so that a flood of
 * made-up identifiers cannot make Gatehouse hammer the URL.
 */
export class GithubKeys {
  private keys = new Map<string, KeyObject>();
  private fetchedAt = 0;
  private loading: Promise<void> | null = null;

  constructor(
    private readonly source: GithubKeySource,
    private readonly logger: Logger,
    private readonly timeoutMs = 5000,
  ) {}

  get configured(): boolean {
    return Boolean(this.source.url || this.source.file);
  }

  async key(identifier: string, now = Date.now()): Promise<KeyObject | null> {
    const known = this.keys.get(identifier);
    if (known) return known;
    if (now - this.fetchedAt >= 60_000 || this.fetchedAt === 0) {
      this.fetchedAt = now;
      this.loading ??= this.load().finally(() => (this.loading = null));
      await this.loading;
    } else if (this.loading) {
      await this.loading;
    }
    return this.keys.get(identifier) ?? null;
  }

  private async load(): Promise<void> {
    try {
      const text = this.source.file
        ? readFileSync(this.source.file, "utf8")
        : await (await fetch(this.source.url!, { signal: AbortSignal.timeout(this.timeoutMs), headers: { accept: "application/json" } })).text();
      const listed = (JSON.parse(text) as { public_keys?: { key_identifier?: unknown; key?: unknown }[] }).public_keys;
      if (!Array.isArray(listed)) throw new Error('no "public_keys" list');
      const keys = new Map<string, KeyObject>();
      for (const entry of listed) {
        if (typeof entry?.key_identifier !== "string" || typeof entry.key !== "string") continue;
        keys.set(entry.key_identifier, createPublicKey(entry.key));
      }
      this.keys = keys;
    } catch (error) {
      // The keys known before stay; the request is refused if its key is not among them.
      this.logger.warn("tokens.leak_keys_unavailable", { source: this.source.file ?? this.source.url, error: (error as Error).message });
    }
  }
}

/** Whether `signature` (base64 of a DER ECDSA signature, GitHub's) signs `body` with the key of `identifier`. */
export async function verifyGithubSignature(keys: GithubKeys, body: string, identifier: string | null, signature: string | null): Promise<boolean> {
  if (!identifier || !signature || identifier.length > 200 || signature.length > 400) return false;
  const key = await keys.key(identifier);
  if (!key) return false;
  try {
    return verify("sha256", Buffer.from(body, "utf8"), { key, dsaEncoding: "der" }, Buffer.from(signature, "base64"));
  } catch {
    return false; // a key of another type, a signature that is not DER
  }
}
