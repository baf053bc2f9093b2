/**
 * The shell examples of the README and docs/, run as a reader would paste them, against a running
 * `npm start`. Each file's blocks run in order in one shell (later blocks use earlier variables).
 * A block that asks the reader to paste a token from a mailed link gets it the way the reader
 * would, from the server's terminal, through `links`: a tiny local server the test provides.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

export type ExampleRun = { file: string; status: number | null; output: string; script: string };

/** The ```sh blocks of `file` that call the API (curl), in order. */
function shellExamples(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/```(?:sh|bash)\n([\s\S]*?)```/g)]
    .map((match) => match[1] ?? "")
    .filter((block) => block.includes("curl"));
}

/**
 * Runs a file's examples with `bash -eo pipefail`: the local origin replaced by `origin`, and
 * `LINK=paste-the-token-here` by the token of the newest matching mail in the server's terminal.
 */
export async function runExamples(file: string, origin: string, links: string, prelude = ""): Promise<ExampleRun> {
  const blocks = shellExamples(file).map((block) =>
    block.replaceAll("http://localhost:8787", origin).replace(/^LINK=paste-the-token-here$/gm, () => {
      const page = /password-reset\/confirm/.test(block) ? "reset-password" : "verify-email";
      return `LINK=$(curl -sf "${links}?to=$U@example.com&page=${page}")`;
    }),
  );
  const script = ["set -eo pipefail", prelude, ...blocks].join("\n");
  // Not spawnSync: the server's terminal (and `links`) must keep being read while the shell runs.
  const shell = spawn("bash", ["-c", script], { timeout: 60_000 });
  let output = "";
  shell.stdout.on("data", (chunk) => (output += chunk));
  shell.stderr.on("data", (chunk) => (output += chunk));
  const status = await new Promise<number | null>((resolve) => shell.on("close", resolve));
  return { file, status, output, script };
}
