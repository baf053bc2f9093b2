/**
 * The admin console (/admin): a browser page over this service's own API, served as static files
 * (public/admin/, this file bundled into admin.js at install). No library, no other host.
 *
 * Safety: every value from the API is put on the page as text (textContent, form values), never
 * as HTML; the page's CSP allows scripts from this origin only (public/_headers). The session
 * token lives in this module's memory only: nothing in storage, and a reload signs out.
 */
import { showAudit, showWebhooks, wireSecurity } from "./security";
import { act, api, auth, cell, element, PAGE_SIZE, type Schemas, say, when } from "./ui";

// The API's own types, generated from the committed OpenAPI document (npm run client:types): a
// change to the API that the console does not follow fails `npm run typecheck`.
type User = Schemas["User"];
type Session = Schemas["SessionList"]["data"][number];

// ── views ───────────────────────────────────────────────────────────────────────────────────────

const VIEWS = ["sign-in", "users", "user", "audit", "webhooks"] as const;

function show(view: (typeof VIEWS)[number]) {
  for (const name of VIEWS) element(`${name}-view`).hidden = name !== view;
  const { session } = auth;
  const signedIn = session !== null;
  element("who").hidden = !signedIn;
  element("sign-out").hidden = !signedIn;
  element("sections").hidden = !signedIn;
  if (session) element("who").textContent = `Signed in as ${session.user.username}`;
}

function signedOut(message?: string) {
  auth.session = null;
  show("sign-in");
  if (message) say(message);
  element<HTMLInputElement>("sign-in-password").value = "";
}

// Users list: the filters and the cursors of the pages seen, so "Previous" can go back.
const listing: { query: URLSearchParams; cursors: (string | null)[]; next: string | null } = {
  query: new URLSearchParams(),
  cursors: [null],
  next: null,
};

async function showUsers() {
  const cursor = listing.cursors.at(-1) ?? null;
  const query = new URLSearchParams(listing.query);
  query.set("limit", String(PAGE_SIZE));
  if (cursor) query.set("cursor", cursor);
  const page = (await (await api("GET", `/api/users?${query}`)).json()) as { data: User[]; nextCursor: string | null };
  const body = element<HTMLTableElement>("users").tBodies[0];
  body?.replaceChildren();
  for (const user of page.data) {
    const row = body?.insertRow() as HTMLTableRowElement;
    const link = document.createElement("a");
    link.href = `#/users/${encodeURIComponent(user.id)}`;
    link.textContent = user.username;
    row.insertCell().append(link);
    cell(row, user.name);
    cell(row, user.email);
    cell(row, user.role);
    cell(row, user.status);
    cell(row, when(user.createdAt));
  }
  if (page.data.length === 0) cell(body?.insertRow() as HTMLTableRowElement, "No user matches.").colSpan = 6;
  listing.next = page.nextCursor;
  element<HTMLButtonElement>("previous").disabled = listing.cursors.length <= 1;
  element<HTMLButtonElement>("next").disabled = !page.nextCursor;
  element("page-number").textContent = `Page ${listing.cursors.length}`;
  show("users");
}

let current: { user: User; etag: string } | null = null;

async function showUser(id: string) {
  const response = await api("GET", `/api/users/${encodeURIComponent(id)}`);
  const user = (await response.json()) as User;
  current = { user, etag: response.headers.get("ETag") ?? "" };
  element("user-title").textContent = `${user.name} (${user.username})`;
  const fields = element("user-fields");
  fields.replaceChildren();
  const rows: [string, string][] = [
    ["Id", user.id],
    ["Email", `${user.email}${user.emailVerified ? " (verified)" : " (not verified)"}`],
    ["Username", user.username],
    ["Name", user.name],
    ["Role", user.role],
    ["Status", user.status],
    ["Created", when(user.createdAt)],
    ["Updated", when(user.updatedAt)],
  ];
  for (const [term, value] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    fields.append(dt, dd);
  }
  const form = element<HTMLFormElement>("edit");
  for (const name of ["name", "username", "email", "role"] as const) {
    (form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement).value = user[name];
  }
  element("toggle-status").textContent = user.status === "active" ? "Disable account" : "Enable account";
  await showSessions(user.id);
  show("user");
}

async function showSessions(id: string) {
  const { data } = (await (await api("GET", `/api/users/${encodeURIComponent(id)}/sessions`)).json()) as {
    data: Session[];
  };
  const body = element<HTMLTableElement>("sessions").tBodies[0];
  body?.replaceChildren();
  for (const entry of data) {
    const row = body?.insertRow() as HTMLTableRowElement;
    cell(row, when(entry.createdAt));
    cell(row, when(entry.expiresAt));
    cell(row, `${entry.userAgent ?? "unknown device"}${entry.current ? " (this console)" : ""}`);
  }
  if (data.length === 0) cell(body?.insertRow() as HTMLTableRowElement, "No live session.").colSpan = 3;
}

/** A change to the user on screen, conditional on the version shown (412 if it changed meanwhile). */
async function patchCurrent(changes: Partial<User>, done: string) {
  if (!current) return;
  await api("PATCH", `/api/users/${encodeURIComponent(current.user.id)}`, changes, { "If-Match": current.etag });
  await showUser(current.user.id);
  say(done);
}

// ── routing ─────────────────────────────────────────────────────────────────────────────────────

async function route() {
  if (!auth.session) return show("sign-in");
  const [, section, id] = location.hash.split("/");
  if (section === "users" && id) return act(null, () => showUser(decodeURIComponent(id)));
  if (section === "audit") {
    return act(null, async () => {
      await showAudit();
      show("audit");
    });
  }
  if (section === "webhooks") {
    return act(null, async () => {
      await showWebhooks();
      show("webhooks");
    });
  }
  return act(null, showUsers);
}

// ── wiring ──────────────────────────────────────────────────────────────────────────────────────

function wire() {
  element<HTMLFormElement>("sign-in").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    void act(form.querySelector("button"), async () => {
      const answer = (await (
        await api("POST", "/api/auth/login", { email: data.get("email"), password: data.get("password") })
      ).json()) as { token: string; user: User };
      if (answer.user.role !== "admin") {
        // Leave nothing behind: the member's new session ends at once.
        await fetch("/api/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${answer.token}` } });
        signedOut("This console is for admins. You are a member, so there is nothing here for you.");
        return;
      }
      auth.session = { token: answer.token, user: answer.user };
      form.reset();
      location.hash = "#/users";
      await route();
    });
  });

  element("sign-out").addEventListener("click", (event) => {
    void act(event.currentTarget as HTMLButtonElement, async () => {
      await api("POST", "/api/auth/logout").catch(() => undefined);
      signedOut("Signed out.");
    });
  });

  element<HTMLFormElement>("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget as HTMLFormElement);
    listing.query = new URLSearchParams();
    for (const name of ["q", "role", "status"]) {
      const value = String(data.get(name) ?? "").trim();
      if (value) listing.query.set(name, value);
    }
    listing.cursors = [null];
    void act((event.currentTarget as HTMLFormElement).querySelector("button"), showUsers);
  });

  element("next").addEventListener("click", (event) => {
    if (!listing.next) return;
    listing.cursors.push(listing.next);
    void act(event.currentTarget as HTMLButtonElement, showUsers);
  });

  element("previous").addEventListener("click", (event) => {
    if (listing.cursors.length > 1) listing.cursors.pop();
    void act(event.currentTarget as HTMLButtonElement, showUsers);
  });

  element<HTMLFormElement>("edit").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    void act(form.querySelector("button"), async () => {
      if (!current) return;
      const changes: Partial<User> = {};
      for (const name of ["name", "username", "email", "role"] as const) {
        const value = String(data.get(name) ?? "");
        if (value !== current.user[name]) Object.assign(changes, { [name]: value });
      }
      if (Object.keys(changes).length === 0) return say("Nothing to save.");
      await patchCurrent(changes, "Saved.");
    });
  });

  element("toggle-status").addEventListener("click", (event) => {
    void act(event.currentTarget as HTMLButtonElement, async () => {
      if (!current) return;
      const status = current.user.status === "active" ? "disabled" : "active";
      await patchCurrent(
        { status },
        status === "disabled" ? "Account disabled; its sessions ended." : "Account enabled.",
      );
    });
  });

  element("send-reset").addEventListener("click", (event) => {
    void act(event.currentTarget as HTMLButtonElement, async () => {
      if (!current) return;
      await api("POST", `/api/users/${encodeURIComponent(current.user.id)}/password-reset`);
      say(`A password reset link is on its way to ${current.user.email}.`);
    });
  });

  element("revoke-sessions").addEventListener("click", (event) => {
    void act(event.currentTarget as HTMLButtonElement, async () => {
      if (!current) return;
      await api("DELETE", `/api/users/${encodeURIComponent(current.user.id)}/sessions`);
      await showSessions(current.user.id);
      say(`${current.user.username} is signed out everywhere.`);
    });
  });

  const dialog = element<HTMLDialogElement>("confirm-delete");
  element("delete-user").addEventListener("click", () => {
    if (!current) return;
    element("confirm-text").textContent =
      `Delete ${current.user.username} (${current.user.email})? Their account and sessions are removed for good.`;
    dialog.returnValue = "";
    dialog.showModal();
  });
  dialog.addEventListener("close", () => {
    if (dialog.returnValue !== "delete" || !current) return;
    const { user, etag } = current;
    void act(null, async () => {
      await api("DELETE", `/api/users/${encodeURIComponent(user.id)}`, undefined, { "If-Match": etag });
      current = null;
      location.hash = "#/users";
      await showUsers();
      say(`${user.username} was deleted.`);
    });
  });

  wireSecurity();
  auth.onEnded(() => signedOut("Your session has ended; sign in again."));
  window.addEventListener("hashchange", () => void route());
  show("sign-in");
  // The form posts, never GETs, and cannot be sent at all before this script has taken it over:
  // its button (and so Enter's implicit submission) stays disabled until now.
  element<HTMLFormElement>("sign-in").querySelector("button")?.removeAttribute("disabled");
}

wire();
