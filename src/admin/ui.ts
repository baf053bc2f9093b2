/**
 * What the console's views share: the session (in this module's memory only), the API call that
 * carries it, the message lines, and the table helpers. Values from the API reach the page as text
 * only (textContent), never as HTML.
 */
import type { components } from "../../examples/typed-clients/openapi";

export type Schemas = components["schemas"];
type Problem = Partial<Schemas["Problem"]>;
type SignedIn = { token: string; user: Schemas["User"] };

export const PAGE_SIZE = 20;

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | null,
  ) {
    super(problem?.detail ?? problem?.title ?? `The service answered ${status}.`);
  }
}

let session: SignedIn | null = null;
let onSessionEnded: () => void = () => {};

export const auth = {
  get session(): SignedIn | null {
    return session;
  },
  set session(value: SignedIn | null) {
    session = value;
  },
  /** What to do when the API says the session has ended (401): the console signs out. */
  onEnded(handler: () => void) {
    onSessionEnded = handler;
  },
};

export function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from the page`);
  return found as T;
}

export async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(path, {
    method,
    headers: {
      ...(session ? { Authorization: `Bearer ${session.token}` } : {}),
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      ...headers,
    },
    body: body === undefined ? null : JSON.stringify(body),
  });
  if (!response.ok) {
    const problem = (await response.json().catch(() => null)) as Problem | null;
    throw new ApiError(response.status, problem);
  }
  return response;
}

// ── messages ────────────────────────────────────────────────────────────────────────────────────

export function say(text: string) {
  const notice = element("notice");
  notice.textContent = text;
  notice.hidden = false;
  element("alert").hidden = true;
}

function complain(error: unknown) {
  const alert = element("alert");
  if (error instanceof ApiError) {
    const { problem } = error;
    const fields = (problem?.errors ?? []).map((field) => `${field.path}: ${field.message}`).join("; ");
    const words = [problem?.title, problem?.detail, fields].filter(Boolean).join(" — ");
    alert.textContent = `${words || error.message}${problem?.requestId ? ` (request id ${problem.requestId})` : ""}`;
    if (error.status === 401 && session) onSessionEnded();
  } else {
    alert.textContent = error instanceof Error ? error.message : String(error);
  }
  alert.hidden = false;
  element("notice").hidden = true;
}

function clearMessages() {
  element("alert").hidden = true;
  element("notice").hidden = true;
}

/** Runs an action from a button or form, showing what fails; the control is disabled meanwhile. */
export async function act(control: HTMLButtonElement | null, work: () => Promise<void>) {
  if (control) control.disabled = true;
  clearMessages();
  try {
    await work();
  } catch (error) {
    complain(error);
  } finally {
    if (control) control.disabled = false;
  }
}

export function cell(row: HTMLTableRowElement, text: string) {
  const td = row.insertCell();
  td.textContent = text;
  return td;
}

export function when(iso: string) {
  return new Date(iso).toLocaleString();
}
