/**
 * The owner's side: the tab that holds a ledger's store answers the other
 * tabs' calls on the channel, and tells every tab what each commit changed
 * and how its sync points are doing.
 *
 * One sync connection per origin: a tab's `attach(url)` is made here,
 * once per URL, whichever tab asks (`./follower.ts` asks again after an
 * owner change, so the new owner attaches in turn).
 *
 * @module
 */
import { HearthError, isHearthError } from "../errors.js";
import type { Ledger } from "../ledger/ledger.js";
import type { MapFn } from "../ledger/indexes.js";
import type { Attachment } from "../sync/attachment.js";
import { parseHttpUrl } from "../remote/http-url.js";
import { ATTACHMENT_CALLS, channelName, dehydrate, LEDGER_CALLS, type CallMessage, type TabMessage } from "./protocol.js";

const EVENTS = ["status", "change", "progress"] as const;

/**
 * Serves `ledger` (stored at `storeUrl`) to the other tabs as tab `tab`,
 * until the returned function is called or the ledger closes.
 */
export function serveTabs(ledger: Ledger, storeUrl: string, tab: string): () => void {
  const channel = new BroadcastChannel(channelName(storeUrl));
  let stopped = false;
  // A call may finish after the serving stopped (the ledger closed under it): its reply goes nowhere.
  const post = (message: TabMessage): void => {
    if (!stopped) channel.postMessage(message);
  };
  const watched = new Map<Attachment, () => void>();
  const watch = (a: Attachment): void => {
    if (watched.has(a)) return;
    const stops = EVENTS.map((event) =>
      a.on(event, (payload) => post({ t: "attachment", url: a.url, event, payload, ...(event === "status" && { digest: digestOf(a) }) })),
    );
    watched.set(a, () => stops.forEach((stop) => stop()));
  };
  for (const a of ledger.attachments()) watch(a);

  const run = async (m: CallMessage): Promise<unknown> => {
    if (m.attachment !== undefined) {
      let a = ledger.attachments().find((x) => x.url === m.attachment);
      if (!a && m.attachAs) {
        // A new owner that has not attached it yet (the asking tab's attach call may still be on its way).
        a = await ledger.attach(m.attachAs.target, m.attachAs.options as Parameters<Ledger["attach"]>[1]);
        watch(a);
      }
      if (!a) throw new HearthError("STORE_CLOSED", `the tab that owns this ledger is not attached to ${m.attachment}; attach again`);
      if (!ATTACHMENT_CALLS.has(m.method)) throw new HearthError("INVALID_ARGUMENT", `attachment.${m.method} cannot be called from another tab`);
      return (a[m.method as "members"] as (...args: unknown[]) => Promise<unknown>)(...m.args);
    }
    switch (m.method) {
      case "attach": {
        const [target, options] = m.args as [string, Parameters<Ledger["attach"]>[1]];
        const a = ledger.attachments().find((x) => x.url === target || x.url === urlWithoutCredentials(target)) ?? (await ledger.attach(target, options));
        watch(a);
        return { url: a.url, status: a.status(), digest: digestOf(a) };
      }
      case "query": {
        const [spec, options] = m.args as [string | { fn: string }, Parameters<Ledger["query"]>[1]];
        return ledger.query(typeof spec === "string" ? spec : compileMap(spec.fn), options);
      }
      case "readFile": {
        const [id, name] = m.args as [string, string];
        const file = (await ledger.get(id))._files?.[name];
        if (!file) throw new HearthError("NOT_FOUND", `document ${JSON.stringify(id)} has no file ${JSON.stringify(name)}`);
        return file.file();
      }
      case "heads":
        return ledger.heads();
      default:
        if (!LEDGER_CALLS.has(m.method)) throw new HearthError("INVALID_ARGUMENT", `ledger.${m.method} cannot be called from another tab`);
        return (ledger[m.method as "get"] as (...args: unknown[]) => Promise<unknown>)(...m.args);
    }
  };

  channel.onmessage = (event: MessageEvent<TabMessage>) => {
    const m = event.data;
    if (m.t === "who") return post({ t: "owner", tab });
    if (m.t !== "call") return;
    run(m).then(
      (value) => post({ t: "reply", id: m.id, to: m.from, ok: true, value: dehydrate(value) }),
      (err: unknown) =>
        post({ t: "reply", id: m.id, to: m.from, ok: false, code: isHearthError(err) ? err.code : undefined, message: err instanceof Error ? err.message : String(err) }),
    );
  };
  let unsubscribe = (): void => undefined;
  try {
    unsubscribe = ledger.subscribe((docs) => post({ t: "changed", docs: dehydrate(docs), heads: ledger.heads() }));
  } catch {
    // Closed already: nothing to serve.
  }
  post({ t: "owner", tab });
  return () => {
    stopped = true;
    unsubscribe();
    for (const stop of watched.values()) stop();
    channel.close();
  };
}

/** `url` as an attachment names it: an `http(s)://` sync point without its token; any other URL as it is. */
function urlWithoutCredentials(url: string): string {
  if (!/^https?:/i.test(url)) return url;
  try {
    return parseHttpUrl(url).url;
  } catch {
    return url; // the attach says what is wrong with it
  }
}

function digestOf(a: Attachment): string | undefined {
  try {
    return a.digest();
  } catch {
    return undefined;
  }
}

/** A map function from its source (as `query` names an unnamed index by it). */
function compileMap(source: string): MapFn {
  try {
    return new Function(`return (${source});`)() as MapFn;
  } catch (cause) {
    throw new HearthError("INVALID_ARGUMENT", "a map function sent from another tab did not compile here (a method shorthand, or a page whose Content-Security-Policy forbids eval); name the index by a field instead", { cause });
  }
}
