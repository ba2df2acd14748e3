// Noticing changes made to the store by someone else (the CLI, another
// instance sharing the file), cheaply enough for the /authenticate path.
//
// SQLite's `PRAGMA data_version` changes when another connection commits.
// Asking costs about as much as a token lookup, so it is asked at most once
// per millisecond: a revocation made elsewhere applies within a millisecond
// of its commit; one made through this process applies at once (bump()).
import type { StoreChanges as Changes } from "./backend.ts";
import type { Store } from "./database.ts";

export class StoreChanges implements Changes {
  private readonly dataVersion: () => number;
  private lastVersion: number;
  private checkedAt = 0;
  private stamp = 0;

  constructor(store: Store) {
    const statement = store.sqlite.prepare<{ data_version: number }, []>("PRAGMA data_version");
    this.dataVersion = () => statement.get()!.data_version;
    this.lastVersion = this.dataVersion();
  }

  /** A number that changes whenever anything remembered from the store may be stale. */
  current(now = Date.now()): number {
    if (now !== this.checkedAt) {
      this.checkedAt = now;
      const version = this.dataVersion();
      if (version !== this.lastVersion) {
        this.lastVersion = version;
        this.stamp++;
      }
    }
    return this.stamp;
  }

  /** Records a change made through this process (data_version only reports other connections). */
  bump(): void {
    this.stamp++;
  }
}
