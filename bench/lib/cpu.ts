/**
 * CPU time actually spent, read from /proc: for workerd (the server side of every scenario) and
 * for this process (autocannon, the load generator, which shares the machine's cores; Miniflare's
 * Node side lives in this process too, so whatever it does during a round is counted here).
 */
import { readdirSync, readFileSync } from "node:fs";

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function statOf(pid: number): { comm: string; ppid: number; cpuMs: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const [utime, stime] = [Number(fields[11]), Number(fields[12])];
    return { comm, ppid: Number(fields[1]), cpuMs: ((utime + stime) * 1000) / TICKS_PER_SECOND };
  } catch (error) {
    // The process ended between listing /proc and reading its stat: it has no CPU left to count.
    if ((error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "ESRCH") {
      return null;
    }
    throw error;
  }
}

/** The processes of a given name descended from this one (Miniflare's workerd, a peer server). */
export function descendants(name: string, root = process.pid): number[] {
  const all = readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .map((pid) => ({ pid, stat: statOf(pid) }))
    .filter((entry): entry is { pid: number; stat: NonNullable<ReturnType<typeof statOf>> } => entry.stat !== null);
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const { pid, stat } of all) {
      if (stat.ppid !== parent) continue;
      if (stat.comm.startsWith(name)) found.push(pid);
      walk(pid);
    }
  };
  walk(root);
  return found;
}

export function cpuMsOf(pids: number[]): number {
  return pids.reduce((total, pid) => total + (statOf(pid)?.cpuMs ?? 0), 0);
}

export function ownCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}
