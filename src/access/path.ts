// The path access rules are matched on: the path of the original request as
// the application behind the proxy will read it, whatever spelling the client
// chose. Authelia (before 4.36, #3661 and #3692) and oauth2-proxy's
// skip_auth_routes (decoded, never dot-segment-cleaned) matched the path as
// sent, so `/public/../admin`, `/%61dmin/` or `//admin/` slipped past a rule
// about `/admin/` while nginx, which decodes and cleans the path before it
// routes, served `/admin/`.
//
// What is done, in this order (the query is never part of it):
//   - path parameters (`;…` up to the next `/`) are removed, as Java servers
//     do before anything else: `/public/..;/admin` is `/admin` to Tomcat;
//   - each segment is percent-decoded as UTF-8 (`%61dmin` is `admin`);
//   - dot segments are resolved (`/a/../admin` is `/admin`; never above the
//     root) and repeated slashes merged (`//admin/` is `/admin/`), as nginx
//     does; a trailing slash is kept.
//
// What is refused rather than guessed at, because the proxy and the
// application may read it differently (the caller gets 403):
//   - an encoded slash or backslash (`%2F`, `%5C`): nginx decodes `%2F` into
//     a separator before it routes, many applications keep it inside the
//     segment; and a raw backslash, which some servers (and every browser's
//     URL parser) read as a slash and nginx does not;
//   - an escape that is not one (`%zz`, `%4`), bytes that are not UTF-8,
//     control characters (NUL, CR, LF…), raw spaces, and a `#` (a fragment is
//     never sent; oauth2-proxy GHSA-pxq7-h93f-9jrg matched it as path).
//
// Paths are compared with their case, as URLs are: `/ADMIN` is not `/admin`.
// For an application that ignores case, a rule says so itself: `^(?i:/admin/)`.

/** Why a path cannot be matched: the request is refused. */
export class UnreadablePath {
  constructor(readonly reason: string) {}
}

/**
 * Paths needing no work: no escape, backslash, fragment, path parameter,
 * repeated slash, dot segment, control character, space or non-ASCII byte.
 * Most requests are such, and cost one test.
 */
const NEEDS_WORK = /[%\\#;\x00-\x20\x7f-\uffff]|\/\/|\/\.\.?(?:\/|$)/;
const HEX_PAIR = /^[0-9A-Fa-f]{2}$/;
const CONTROL = /[\x00-\x1f\x7f]/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The path to match rules on, or why it cannot be read. `raw` is the path as sent (the query apart). */
export function normalisePath(raw: string): string | UnreadablePath {
  if (raw.charCodeAt(0) !== 0x2f) return new UnreadablePath("a path that does not begin with /");
  if (!NEEDS_WORK.test(raw)) return raw;
  if (raw.includes("#")) return new UnreadablePath("a fragment (#) in the path");
  if (raw.includes("\\")) return new UnreadablePath("a backslash in the path");
  if (/[\x00-\x20\x7f]/.test(raw)) return new UnreadablePath("a control character or a space in the path");
  // Header values are bytes read as Latin-1: anything beyond cannot have come from the proxy.
  if (/[^\x00-\xff]/.test(raw)) return new UnreadablePath("a character that is not a byte in the path");
  const segments: string[] = [];
  const parts = raw.split("/");
  let trailing = false;
  for (let index = 1; index < parts.length; index++) {
    const part = parts[index]!;
    const semicolon = part.indexOf(";");
    const decoded = decodeSegment(semicolon < 0 ? part : part.slice(0, semicolon));
    if (decoded instanceof UnreadablePath) return decoded;
    // A trailing slash stays, and so does the folder a final dot segment names ("/a/b/.." is "/a/").
    trailing = decoded === "" || decoded === "." || decoded === "..";
    if (decoded === "..") segments.pop();
    else if (!trailing) segments.push(decoded);
  }
  if (segments.length === 0) return "/";
  return `/${segments.join("/")}${trailing ? "/" : ""}`;
}

/** A segment's escapes and raw bytes, as the bytes they stand for, read as UTF-8. */
function decodeSegment(segment: string): string | UnreadablePath {
  if (!/[%\x80-\xff]/.test(segment)) return segment;
  const bytes = new Uint8Array(segment.length);
  let length = 0;
  for (let index = 0; index < segment.length; index++) {
    const code = segment.charCodeAt(index);
    if (code !== 0x25) {
      bytes[length++] = code;
      continue;
    }
    const hex = segment.slice(index + 1, index + 3);
    if (!HEX_PAIR.test(hex)) return new UnreadablePath("a % that is not an escape (%XX) in the path");
    bytes[length++] = parseInt(hex, 16);
    index += 2;
  }
  let text: string;
  try {
    text = utf8.decode(bytes.subarray(0, length));
  } catch {
    return new UnreadablePath("bytes that are not UTF-8 in the path");
  }
  if (text.includes("/") || text.includes("\\")) return new UnreadablePath("an encoded slash or backslash (%2F, %5C) in the path");
  if (CONTROL.test(text)) return new UnreadablePath("an encoded control character (such as %00) in the path");
  return text;
}
