// `gatehouse hash-password`: a password read from stdin, printed as its argon2id hash.
import { hashPassword } from "../identity/passwords.ts";
import { defineCommand, usageError } from "./help.ts";

export const hashPasswordCommand = defineCommand(
  {
    name: "hash-password",
    summary: "read a password on stdin, print its argon2id hash",
    description: "At a terminal the password is typed without echo; piped, it is the whole input (one final newline removed).",
    flags: [],
  },
  async (parsed) => {
    const password = await readPassword();
    if (!password) return usageError("hash-password", "empty password");
    console.log(await hashPassword(password));
    return 0;
  },
);

/** The password from stdin: typed at a terminal without echo, or piped. */
async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    const text = await new Response(Bun.stdin.stream()).text();
    return text.replace(/\r?\n$/, "");
  }
  process.stderr.write("Password: ");
  process.stdin.setRawMode(true);
  let password = "";
  try {
    for await (const chunk of process.stdin) {
      for (const char of String(chunk)) {
        if (char === "\r" || char === "\n") return password;
        if (char === "\u0003") process.exit(130);
        password = char === "\u007f" ? password.slice(0, -1) : password + char;
      }
    }
    return password;
  } finally {
    process.stdin.setRawMode(false);
    process.stderr.write("\n");
  }
}

