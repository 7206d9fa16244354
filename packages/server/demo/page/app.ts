/**
 * The demo page behind `npm start`: a shared list kept in a Hearth ledger
 * in IndexedDB (with the device keyring in IndexedDB too), attached to the
 * sync server that served the page, at `<origin>/<ledger>?token=…`.
 *
 * - The token comes in the URL fragment (`#token=…`), which browsers never
 *   send to a server, so it stays out of request logs.
 * - Every tab keeps its own local replica (`indexeddb://hearth-demo-<ledger>-<n>`,
 *   slot `n` held with a Web Lock), because two tabs writing one IndexedDB
 *   ledger would be two writers on one store. All tabs of a browser profile
 *   share the keyring, so they are one device: no ceremony between them.
 * - Another browser context (another browser, a private window) is another
 *   device: it fails to attach with `KEY_REQUIRED` and shows "Join with
 *   code"; a member window's "Share" button makes the one-time code.
 * - Live updates come from `db.subscribe`; the status line is the
 *   attachment's `status` events.
 *
 * @module
 */
import { isHearthError, open, type Attachment, type Doc, type Ledger, type SyncStatus } from "@hearth/core";

interface Item extends Doc {
  title: string;
  done: boolean;
}

const byId = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page lacks #${id}`);
  return el as T;
};

const ui = {
  status: byId("status"),
  needToken: byId("need-token"),
  tokenForm: byId<HTMLFormElement>("token-form"),
  tokenInput: byId<HTMLInputElement>("token-input"),
  join: byId("join"),
  joinForm: byId<HTMLFormElement>("join-form"),
  joinCode: byId<HTMLInputElement>("join-code"),
  joinError: byId("join-error"),
  list: byId("list"),
  addForm: byId<HTMLFormElement>("add-form"),
  newItem: byId<HTMLInputElement>("new-item"),
  items: byId<HTMLUListElement>("items"),
  empty: byId("empty"),
  shareButton: byId<HTMLButtonElement>("share-button"),
  shareCode: byId("share-code"),
  error: byId("error"),
  device: byId("device"),
  replica: byId("replica"),
  point: byId("point"),
};

const params = new URLSearchParams(location.hash.slice(1));
const ledgerName = params.get("ledger") ?? "demo";

/** Shows an error on the page (never throws). */
function showError(err: unknown): void {
  ui.error.hidden = false;
  ui.error.textContent = isHearthError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
}

/** Runs an event handler, showing what it throws. */
function guard<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => void {
  return (...args) => void fn(...args).catch(showError);
}

/**
 * A replica slot no other tab of this profile holds: the Web Lock is kept
 * for the page's lifetime and released by the browser when it goes away.
 */
async function claimSlot(): Promise<string> {
  if (!navigator.locks) {
    // No Web Locks (not a secure context): one slot per tab, kept across reloads.
    let slot = sessionStorage.getItem("hearth-demo-slot");
    if (!slot) sessionStorage.setItem("hearth-demo-slot", (slot = `tab-${crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36)}`));
    return slot;
  }
  for (let n = 1; n <= 64; n++) {
    const held = await new Promise<boolean>((resolve) => {
      void navigator.locks.request(`hearth-demo-${ledgerName}-${n}`, { ifAvailable: true }, (lock) => {
        resolve(lock !== null);
        return lock === null ? undefined : new Promise<void>(() => undefined);
      });
    });
    if (held) return String(n);
  }
  throw new Error("64 tabs of this demo are open already; close some");
}

function renderStatus(s: SyncStatus): void {
  ui.status.dataset.state = s.state;
  const parts: string[] = [s.state];
  if (s.pending > 0) parts.push(`${s.pending} to push`);
  if (s.behind > 0) parts.push(`${s.behind} to pull`);
  if (s.lastSyncAt !== undefined) parts.push(`in sync at ${new Date(s.lastSyncAt).toLocaleTimeString()}`);
  if (s.rejected > 0) parts.push(`${s.rejected} rejected`);
  if (s.error) parts.push(s.error.code);
  ui.status.textContent = parts.join(" · ");
  ui.status.title = s.error?.message ?? "";
}

function draw(items: Item[]): void {
  ui.items.replaceChildren(
    ...items.map((item) => {
      const li = document.createElement("li");
      li.dataset.id = item._id;
      li.dataset.done = String(item.done === true);
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.className = "toggle";
      box.checked = item.done === true;
      const title = document.createElement("span");
      title.className = "title";
      title.textContent = String(item.title);
      label.append(box, title);
      const del = document.createElement("button");
      del.type = "button";
      del.className = "delete";
      del.title = "Delete";
      del.textContent = "✕";
      li.append(label, del);
      return li;
    }),
  );
  ui.empty.hidden = items.length > 0;
}

/** Redraws from the ledger; calls that arrive while drawing coalesce into one more. */
function renderer(db: Ledger): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  const render = async (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        const { rows } = await db.allDocs();
        draw(rows.map((r) => r.value as Item));
      } while (again);
    })().finally(() => (running = undefined));
    return running;
  };
  return render;
}

/** Attaches; undefined when this device is not a member (KEY_REQUIRED). */
async function attach(db: Ledger, url: string, shareCode?: string): Promise<Attachment | undefined> {
  try {
    return await db.attach(url, shareCode === undefined ? {} : { shareCode });
  } catch (err) {
    if (isHearthError(err, "KEY_REQUIRED")) return undefined;
    throw err;
  }
}

/** Shows the list once attached, and wires it to the ledger and the attachment. */
async function showList(db: Ledger, attachment: Attachment): Promise<void> {
  ui.join.hidden = true;
  ui.point.textContent = attachment.url;
  attachment.on("status", renderStatus);
  renderStatus(attachment.status());
  const render = renderer(db);
  db.subscribe(() => void render().catch(showError));
  await render();

  ui.addForm.addEventListener(
    "submit",
    guard(async (event: SubmitEvent) => {
      event.preventDefault();
      const title = ui.newItem.value.trim();
      if (title === "") return;
      ui.newItem.value = "";
      await db.put({ title, done: false, createdAt: new Date().toISOString() });
    }),
  );
  ui.items.addEventListener(
    "change",
    guard(async (event: Event) => {
      const box = event.target as HTMLInputElement;
      const id = box.closest("li")?.dataset.id;
      if (!box.classList.contains("toggle") || id === undefined) return;
      await db.put({ ...(await db.get(id)), done: box.checked });
    }),
  );
  ui.items.addEventListener(
    "click",
    guard(async (event: MouseEvent) => {
      const button = event.target as HTMLElement;
      const id = button.closest("li")?.dataset.id;
      if (!button.classList.contains("delete") || id === undefined) return;
      await db.del(id);
    }),
  );
  ui.shareButton.addEventListener(
    "click",
    guard(async () => {
      ui.shareCode.textContent = "…";
      ui.shareCode.textContent = await attachment.createShareCode();
    }),
  );
  ui.list.hidden = false;
}

async function start(token: string): Promise<void> {
  ui.needToken.hidden = true;
  const url = `${location.origin}/${ledgerName}?token=${encodeURIComponent(token)}`;
  ui.point.textContent = `${location.origin}/${ledgerName}`;
  const slot = await claimSlot();
  ui.replica.textContent = slot;
  const db = await open(ledgerName, { store: `indexeddb://hearth-demo-${ledgerName}-${slot}` });
  addEventListener("pagehide", () => void db.close());
  ui.device.textContent = (await db.device()).fingerprint.slice(0, 12);
  ui.status.textContent = "attaching…";

  const attachment = await attach(db, url);
  if (attachment) return showList(db, attachment);

  ui.status.dataset.state = "not-a-member";
  ui.status.textContent = "not a member yet";
  ui.join.hidden = false;
  ui.joinForm.addEventListener(
    "submit",
    guard(async (event: SubmitEvent) => {
      event.preventDefault();
      const code = ui.joinCode.value.trim();
      if (code === "") return;
      ui.joinError.hidden = true;
      const joined = await attach(db, url, code);
      if (joined) return showList(db, joined);
      ui.joinError.hidden = false;
      ui.joinError.textContent = "That code did not work: it was used already, or mistyped. Ask for a new one.";
    }),
  );
}

function main(): void {
  const token = params.get("token");
  if (token) return void start(token).catch(showError);
  ui.status.textContent = "no token";
  ui.needToken.hidden = false;
  ui.tokenForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = ui.tokenInput.value.trim();
    if (value === "") return;
    params.set("token", value);
    history.replaceState(null, "", `#${params}`);
    void start(value).catch(showError);
  });
}

main();
