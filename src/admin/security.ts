/**
 * The console's security pages: the audit log (filters, paging, an event's detail) and webhooks
 * (create and show the secret once, enable and disable, a test send, the deliveries). Everything
 * from the API is shown as text.
 */
import { act, api, cell, element, PAGE_SIZE, type Schemas, say, when } from "./ui";

type AuditEvent = Schemas["AuditEvent"];
type Webhook = Schemas["Webhook"];
type CreatedWebhook = Schemas["CreatedWebhook"];
type Delivery = Schemas["WebhookDelivery"];

// ── audit log ───────────────────────────────────────────────────────────────────────────────────

const audit: { query: URLSearchParams; cursors: (string | null)[]; next: string | null } = {
  query: new URLSearchParams(),
  cursors: [null],
  next: null,
};

export async function showAudit() {
  const cursor = audit.cursors.at(-1) ?? null;
  const query = new URLSearchParams(audit.query);
  query.set("limit", String(PAGE_SIZE));
  if (cursor) query.set("cursor", cursor);
  const page = (await (await api("GET", `/api/audit-events?${query}`)).json()) as {
    data: AuditEvent[];
    nextCursor: string | null;
  };
  const body = element<HTMLTableElement>("audit-events").tBodies[0];
  body?.replaceChildren();
  for (const event of page.data) {
    const row = body?.insertRow() as HTMLTableRowElement;
    cell(row, when(event.occurredAt));
    cell(row, event.type);
    cell(row, event.actor.userId ?? "—");
    cell(row, `${event.target.type} ${event.target.id}`);
    cell(row, event.actor.ip ?? "—");
    const details = document.createElement("button");
    details.type = "button";
    details.textContent = "Details";
    details.setAttribute("aria-label", `Details of ${event.type} at ${when(event.occurredAt)}`);
    details.addEventListener("click", () => {
      element("audit-detail-title").textContent = `${event.type} · ${when(event.occurredAt)}`;
      element("audit-detail").textContent = JSON.stringify(event, null, 2);
      element("audit-detail-box").hidden = false;
    });
    row.insertCell().append(details);
  }
  if (page.data.length === 0) cell(body?.insertRow() as HTMLTableRowElement, "No event matches.").colSpan = 6;
  audit.next = page.nextCursor;
  element<HTMLButtonElement>("audit-previous").disabled = audit.cursors.length <= 1;
  element<HTMLButtonElement>("audit-next").disabled = !page.nextCursor;
  element("audit-page-number").textContent = `Page ${audit.cursors.length}`;
  element("audit-detail-box").hidden = true;
}

// ── webhooks ────────────────────────────────────────────────────────────────────────────────────

let selected: Webhook | null = null;

export async function showWebhooks() {
  const { data } = (await (await api("GET", "/api/webhooks?limit=100")).json()) as { data: Webhook[] };
  const body = element<HTMLTableElement>("webhooks").tBodies[0];
  body?.replaceChildren();
  for (const hook of data) {
    const row = body?.insertRow() as HTMLTableRowElement;
    cell(row, hook.url);
    cell(row, hook.events.join(", "));
    cell(row, hook.enabled ? "enabled" : `disabled${hook.disabledReason ? `: ${hook.disabledReason}` : ""}`);
    const actions = row.insertCell();
    actions.className = "row-actions";
    actions.append(
      button(hook.enabled ? "Disable" : "Enable", `${hook.enabled ? "Disable" : "Enable"} ${hook.url}`, async () => {
        await api("PATCH", `/api/webhooks/${hook.id}`, { enabled: !hook.enabled });
        await showWebhooks();
        say(`${hook.url} is ${hook.enabled ? "disabled" : "enabled"}.`);
      }),
      button("Send test", `Send a test event to ${hook.url}`, async () => {
        await api("POST", `/api/webhooks/${hook.id}/test`);
        await showDeliveries(hook);
        say(`A webhook.test event is queued for ${hook.url}.`);
      }),
      button("Deliveries", `Deliveries to ${hook.url}`, () => showDeliveries(hook)),
      button("Delete…", `Delete ${hook.url}`, async () => confirmDelete(hook)),
    );
  }
  if (data.length === 0) cell(body?.insertRow() as HTMLTableRowElement, "No webhook endpoint yet.").colSpan = 4;
  if (selected && !data.some((hook) => hook.id === selected?.id)) {
    selected = null;
    element("deliveries-box").hidden = true;
  }
}

async function showDeliveries(hook: Webhook) {
  selected = hook;
  const { data } = (await (await api("GET", `/api/webhooks/${hook.id}/deliveries?limit=50`)).json()) as {
    data: Delivery[];
  };
  element("deliveries-title").textContent = `Deliveries to ${hook.url}`;
  const body = element<HTMLTableElement>("deliveries").tBodies[0];
  body?.replaceChildren();
  for (const delivery of data) {
    const row = body?.insertRow() as HTMLTableRowElement;
    cell(row, when(delivery.createdAt));
    cell(row, delivery.eventType);
    cell(row, delivery.status);
    cell(row, String(delivery.attempt));
    cell(row, delivery.responseStatus === null ? "—" : String(delivery.responseStatus));
    cell(row, delivery.error ?? "");
  }
  if (data.length === 0) cell(body?.insertRow() as HTMLTableRowElement, "Nothing sent yet.").colSpan = 6;
  element("deliveries-box").hidden = false;
}

function confirmDelete(hook: Webhook) {
  const dialog = element<HTMLDialogElement>("confirm-webhook-delete");
  element("confirm-webhook-text").textContent = `Delete the webhook to ${hook.url}? It gets nothing more.`;
  dialog.returnValue = "";
  pendingDelete = hook;
  dialog.showModal();
}

let pendingDelete: Webhook | null = null;

function button(label: string, name: string, work: () => Promise<void>) {
  const control = document.createElement("button");
  control.type = "button";
  control.textContent = label;
  control.setAttribute("aria-label", name);
  control.addEventListener("click", () => void act(control, work));
  return control;
}

// ── wiring ──────────────────────────────────────────────────────────────────────────────────────

export function wireSecurity() {
  element<HTMLFormElement>("audit-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    audit.query = new URLSearchParams();
    for (const name of ["type", "actorId", "targetId"]) {
      const value = String(data.get(name) ?? "").trim();
      if (value) audit.query.set(name, value);
    }
    audit.cursors = [null];
    void act(form.querySelector("button"), showAudit);
  });
  element("audit-next").addEventListener("click", (event) => {
    if (!audit.next) return;
    audit.cursors.push(audit.next);
    void act(event.currentTarget as HTMLButtonElement, showAudit);
  });
  element("audit-previous").addEventListener("click", (event) => {
    if (audit.cursors.length > 1) audit.cursors.pop();
    void act(event.currentTarget as HTMLButtonElement, showAudit);
  });

  element<HTMLFormElement>("new-webhook").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    void act(form.querySelector("button"), async () => {
      const events = String(data.get("events") ?? "*")
        .split(",")
        .map((type) => type.trim())
        .filter(Boolean);
      const description = String(data.get("description") ?? "").trim();
      const created = (await (
        await api("POST", "/api/webhooks", {
          url: String(data.get("url") ?? "").trim(),
          events,
          ...(description ? { description } : {}),
        })
      ).json()) as CreatedWebhook;
      form.reset();
      // The one time the secret is shown: in the page, never stored.
      element("webhook-secret").textContent = created.secret;
      element("webhook-secret-box").hidden = false;
      await showWebhooks();
      say(`Webhook to ${created.url} created. Copy its secret now: it is not shown again.`);
    });
  });
  element("webhook-secret-done").addEventListener("click", () => {
    element("webhook-secret").textContent = "";
    element("webhook-secret-box").hidden = true;
  });

  const dialog = element<HTMLDialogElement>("confirm-webhook-delete");
  dialog.addEventListener("close", () => {
    const hook = pendingDelete;
    pendingDelete = null;
    if (dialog.returnValue !== "delete" || !hook) return;
    void act(null, async () => {
      await api("DELETE", `/api/webhooks/${hook.id}`);
      await showWebhooks();
      say(`The webhook to ${hook.url} was deleted.`);
    });
  });
}
