// What a username may not hold, wherever it enters (Basic credentials and
// login forms, trusted headers, what any provider answers, token owners):
// characters a person cannot see or that reorder what they see.
//
// - control characters, C0, DEL and C1 (`ad\u0085min`): header and log injection;
// - format characters (Unicode Cf), among them the soft hyphen and the
//   zero-width space (`adm\u00ADin`, `adm\u200Bin`) and every bidirectional
//   control (`\u202Enimda` shows as "admin");
// - the other default-ignorable code points (variation selectors, Hangul
//   fillers, tags), which renderers draw as nothing, and the line and paragraph
//   separators.
// Each of these made an account that looks like `admin` in the portal, the
// audit log and a backend's screens (finding 11 of issue 20).
const UNSAFE_IN_USERNAME = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/u;

/** Why this username is refused, or null when it may be used. */
export function usernameProblem(username: string): string | null {
  if (username.length === 0) return "the username is empty";
  if (UNSAFE_IN_USERNAME.test(username)) return "the username contains an invisible, bidirectional or control character";
  return null;
}
