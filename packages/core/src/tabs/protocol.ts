/**
 * The messages tabs of one origin exchange about one ledger, over a
 * `BroadcastChannel` named after its store, and how documents cross it.
 *
 * One tab owns the ledger (it holds the store's Web Lock); the others send
 * it calls and get replies, and every tab hears what each commit changed.
 * Everything sent is structured-cloneable: documents lose their files'
 * functions on the way (`file()`, `stream()`), which the receiving tab puts
 * back as calls to the owner (`./follower.ts`).
 *
 * @module
 */
import type { HearthErrorCode } from "../errors.js";

/** The ledger methods another tab may call on the owner as they are (besides `attach`, `query`, `readFile`, `heads`, handled apart). */
export const LEDGER_CALLS: ReadonlySet<string> = new Set(["put", "del", "bulk", "get", "allDocs", "changes", "root", "compact", "invite", "device", "hasEvent", "eventBlock", "ingest"]);

/** The attachment methods another tab may call on the owner. */
export const ATTACHMENT_CALLS: ReadonlySet<string> = new Set(["synced", "filesSynced", "invite", "createShareCode", "remove", "members", "rotateKey"]);

/** The channel of the ledger stored at `storeUrl`. */
export function channelName(storeUrl: string): string {
  return `hearth-tabs:${storeUrl}`;
}

/** A call from a tab to the owner: a ledger method, or (with `attachment`) a method of the attachment to that URL. */
export interface CallMessage {
  readonly t: "call";
  readonly id: string;
  readonly from: string;
  readonly method: string;
  readonly args: readonly unknown[];
  readonly attachment?: string;
  /** With `attachment`: what to attach (and how) if the owner is not attached to it (a new owner that has not attached it yet). */
  readonly attachAs?: { readonly target: string; readonly options: unknown };
}

/** The owner's answer to a call. */
export type ReplyMessage =
  | { readonly t: "reply"; readonly id: string; readonly to: string; readonly ok: true; readonly value: unknown }
  | { readonly t: "reply"; readonly id: string; readonly to: string; readonly ok: false; readonly code: HearthErrorCode | undefined; readonly message: string };

/** What the owner broadcasts. */
export type OwnerMessage =
  /** A tab owns the ledger now (or says so again when asked). */
  | { readonly t: "owner"; readonly tab: string }
  /** A commit (local or merged) changed these documents; the heads after it. */
  | { readonly t: "changed"; readonly docs: readonly unknown[]; readonly heads: readonly string[] }
  /** An attachment's status changed (with its digest), or it merged remote events. */
  | { readonly t: "attachment"; readonly url: string; readonly event: "status" | "change" | "progress"; readonly payload: unknown; readonly digest?: string };

/** A tab asking who owns the ledger. */
export interface WhoMessage {
  readonly t: "who";
}

/** Every message on the channel. */
export type TabMessage = CallMessage | ReplyMessage | OwnerMessage | WhoMessage;

/** A file as it crosses the channel: its metadata, without functions. */
export interface FileMeta {
  readonly type: string;
  readonly size: number;
  readonly cid: string;
  readonly lastModified?: number;
}

/** A document (or anything holding documents) with its files' functions dropped, ready to send. */
export function dehydrate<T>(value: T): T {
  if (Array.isArray(value)) return value.map(dehydrate) as T;
  if (typeof value !== "object" || value === null || value instanceof Uint8Array || value instanceof Blob) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (key === "_files" && typeof item === "object" && item !== null) {
      const files: Record<string, FileMeta> = {};
      for (const [name, f] of Object.entries(item as Record<string, FileMeta>)) {
        files[name] = { type: f.type, size: f.size, cid: f.cid, ...(f.lastModified !== undefined && { lastModified: f.lastModified }) };
      }
      out[key] = files;
    } else {
      out[key] = dehydrate(item);
    }
  }
  return out as T;
}

/** The opposite of {@link dehydrate}: each file of each document gets `file()` and `stream()` back, which read it through `read`. */
export function rehydrate<T>(value: T, read: (docId: string, name: string) => Promise<File>): T {
  if (Array.isArray(value)) return value.map((v) => rehydrate(v, read)) as T;
  if (typeof value !== "object" || value === null || value instanceof Uint8Array || value instanceof Blob) return value;
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(record)) {
    if (key === "_files" && typeof item === "object" && item !== null && typeof record._id === "string") {
      const id = record._id;
      const files: Record<string, unknown> = {};
      for (const [name, meta] of Object.entries(item as Record<string, FileMeta>)) {
        files[name] = {
          ...meta,
          file: () => read(id, name),
          stream: () => streamOf(read(id, name)),
        };
      }
      out[key] = files;
    } else {
      out[key] = rehydrate(item, read);
    }
  }
  return out as T;
}

function streamOf(file: Promise<File>): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      reader ??= (await file).stream().getReader();
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader?.cancel(reason),
  });
}
