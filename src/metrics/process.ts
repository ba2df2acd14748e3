// process_* metrics, as Prometheus client libraries name them (and as
// auth-o-tron's Rust process collector exports them). prom-client's default
// metrics would add nodejs_* figures that describe Bun's engine wrongly
// (STACK-NOTES), and cost ≈ 8 ms a scrape.
import { readFileSync, readdirSync } from "node:fs";
import { Counter, Gauge, type Registry } from "./prom.ts";


/** Fields of /proc/self/stat after the command name (Linux); null elsewhere. */
function procStat(): string[] | null {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

function maxFds(): number | null {
  try {
    const limit = readFileSync("/proc/self/limits", "utf8").match(/^Max open files\s+(\d+)/m)?.[1];
    return limit ? Number(limit) : null;
  } catch {
    return null;
  }
}

export function registerProcessMetrics(registry: Registry): void {
  const startTime = Math.round(Date.now() / 1000 - process.uptime());
  new Counter({
    name: "process_cpu_seconds_total",
    help: "Total user and system CPU time spent in seconds.",
    registers: [registry],
    collect() {
      const usage = process.cpuUsage();
      this.reset();
      this.inc((usage.user + usage.system) / 1e6);
    },
  });
  new Gauge({
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes.",
    registers: [registry],
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: "process_virtual_memory_bytes",
    help: "Virtual memory size in bytes.",
    registers: [registry],
    collect() {
      // Field 23 of /proc/PID/stat, vsize; index 20 once pid and comm are cut off.
      const fields = procStat();
      if (fields) this.set(Number(fields[20]));
    },
  });
  new Gauge({
    name: "process_threads",
    help: "Number of OS threads in the process.",
    registers: [registry],
    collect() {
      const fields = procStat();
      if (fields) this.set(Number(fields[17]));
    },
  });
  new Gauge({
    name: "process_open_fds",
    help: "Number of open file descriptors.",
    registers: [registry],
    collect() {
      try {
        this.set(readdirSync("/proc/self/fd").length);
      } catch {}
    },
  });
  const max = maxFds();
  if (max !== null) {
    new Gauge({ name: "process_max_fds", help: "Maximum number of open file descriptors.", registers: [registry], aggregator: "first" }).set(max);
  }
  new Gauge({
    name: "process_start_time_seconds",
    help: "Start time of the process since unix epoch in seconds.",
    registers: [registry],
    aggregator: "min",
  }).set(startTime);
}
