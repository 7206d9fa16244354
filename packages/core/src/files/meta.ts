/**
 * `_files` inside a document: how a file is recorded in the stored body,
 * what `put` may pass for it, and how a write's `_files` combines with the
 * files the document already has.
 *
 * Stored (short wire fields, decoded here and nowhere else):
 *
 * ```
 * _files: { <name>: { c: manifest CID, s: size, t: MIME type, m?: lastModified, k: manifest key (base64url) } }
 * ```
 *
 * On `put`, `_files` is a patch, not a replacement: absent keeps the
 * document's files as they are; `null` removes them all; each name maps to
 * new content (see `./input.ts`), to `null` (remove that file), or to a file
 * as read back (`{ cid, … }`, e.g. the document from `get` written back,
 * or a file moved to another name), which must be one of the document's
 * current files. Names not mentioned keep their files.
 *
 * Portable.
 *
 * @module
 */
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { fromBase64Url, toBase64Url } from "../crypto/encoding.js";
import { HearthError } from "../errors.js";
import { isJsonObject, type DocBody, type JsonValue } from "../doc/normalize.js";
import { BLOCK_KEY_BYTES, MAX_FILE_BYTES } from "./blocks.js";
import { isFileInput, type FileInput } from "./input.js";

/** The document field that holds files. */
export const FILES_FIELD = "_files";

/** Longest file name, in UTF-16 code units. */
export const MAX_FILE_NAME_LENGTH = 1024;

/** A file as a document records it, decoded. */
export interface StoredFile {
  /** The manifest's CID (see `./blocks.ts`). */
  readonly cid: CID;
  /** The manifest's key. */
  readonly key: Uint8Array;
  readonly size: number;
  readonly type: string;
  readonly lastModified?: number;
}

/** What one name of a `put`'s `_files` asks for. */
export type FileChange =
  | { readonly kind: "write"; readonly content: FileInput }
  | { readonly kind: "keep"; readonly cid: string }
  | { readonly kind: "remove" };

/** A `put`'s `_files`, read: `undefined` (absent) leaves the document's files alone. */
export interface FilesRequest {
  /** `_files: null`: every current file goes (then `changes` apply to none). */
  readonly clear: boolean;
  readonly changes: ReadonlyArray<readonly [name: string, change: FileChange]>;
}

/** A request resolved to stored entries, ready to apply at commit. */
export interface FilesPatch {
  readonly clear: boolean;
  readonly set: ReadonlyArray<readonly [name: string, file: JsonValue | null]>;
}

/**
 * Takes `_files` out of a document given to `put`.
 * @returns the document without it, and the request (`undefined` when absent)
 * @throws HearthError `INVALID_DOC` for a malformed `_files` (with the offending name)
 */
export function takeFiles(doc: unknown): { doc: unknown; request: FilesRequest | undefined } {
  if (typeof doc !== "object" || doc === null || !Object.hasOwn(doc, FILES_FIELD)) return { doc, request: undefined };
  const { [FILES_FIELD]: files, ...rest } = doc as Record<string, unknown>;
  if (files === undefined) return { doc: rest, request: undefined };
  if (files === null) return { doc: rest, request: { clear: true, changes: [] } };
  if (typeof files !== "object" || Array.isArray(files) || isFileInput(files)) {
    throw new HearthError("INVALID_DOC", `_files must be an object mapping file names to content (File, Blob, Uint8Array, ReadableStream), null, or a file read back; got ${describe(files)}`);
  }
  const changes: Array<readonly [string, FileChange]> = [];
  for (const [name, value] of Object.entries(files)) {
    checkFileName(name);
    changes.push([name, fileChange(name, value)]);
  }
  return { doc: rest, request: { clear: false, changes } };
}

function fileChange(name: string, value: unknown): FileChange {
  if (value === null) return { kind: "remove" };
  if (isFileInput(value)) return { kind: "write", content: value };
  const cid = typeof value === "object" && value !== null ? (value as { cid?: unknown }).cid : undefined;
  if (typeof cid === "string") return { kind: "keep", cid };
  throw new HearthError(
    "INVALID_DOC",
    `_files[${JSON.stringify(name)}] must be a File, Blob, Uint8Array or ReadableStream (new content), null (remove it) or a file read back from this document; got ${describe(value)}`,
  );
}

function checkFileName(name: string): void {
  if (name.length === 0 || name.length > MAX_FILE_NAME_LENGTH || !name.isWellFormed()) {
    throw new HearthError("INVALID_DOC", `a file name must be 1–${MAX_FILE_NAME_LENGTH} characters of well-formed text, got ${JSON.stringify(name.slice(0, 80))}`);
  }
}

/** The stored form of a file (see the module docs). */
export function encodeStoredFile(file: StoredFile): JsonValue {
  const out: { [key: string]: JsonValue } = { c: file.cid.toString(), s: file.size, t: file.type, k: toBase64Url(file.key) };
  if (file.lastModified !== undefined) out.m = file.lastModified;
  return out;
}

/** The files a stored body records, by name; malformed entries (a forging writer's) are left out. */
export function storedFiles(body: DocBody): Array<readonly [string, StoredFile]> {
  const files = body[FILES_FIELD];
  if (typeof files !== "object" || files === null || Array.isArray(files)) return [];
  const out: Array<readonly [string, StoredFile]> = [];
  for (const [name, value] of Object.entries(files)) {
    const file = decodeStoredFile(value);
    if (file) out.push([name, file]);
  }
  return out;
}

/** Decodes one stored file, or `undefined` if it is malformed. */
export function decodeStoredFile(value: JsonValue | undefined): StoredFile | undefined {
  if (!isJsonObject(value)) return undefined;
  const { c, s, t, m, k } = value;
  if (typeof c !== "string" || typeof t !== "string" || typeof k !== "string") return undefined;
  if (typeof s !== "number" || !Number.isSafeInteger(s) || s < 0 || s > MAX_FILE_BYTES) return undefined;
  if (m !== undefined && (typeof m !== "number" || !Number.isFinite(m))) return undefined;
  let cid: CID;
  let key: Uint8Array;
  try {
    cid = CID.parse(c);
    key = fromBase64Url(k);
  } catch {
    return undefined;
  }
  if (cid.code !== raw.code || key.length !== BLOCK_KEY_BYTES) return undefined;
  return m === undefined ? { cid, key, size: s, type: t } : { cid, key, size: s, type: t, lastModified: m };
}

/**
 * The `_files` a write stores: the current document's (`current`, its
 * stored body or `undefined`) with `patch` applied; `undefined` for none.
 */
export function applyFilesPatch(current: DocBody | null | undefined, patch: FilesPatch | undefined): JsonValue | undefined {
  const before = current?.[FILES_FIELD];
  const base = isJsonObject(before) ? before : undefined;
  if (patch === undefined) return base;
  const next: { [name: string]: JsonValue } = patch.clear || base === undefined ? {} : { ...base };
  for (const [name, file] of patch.set) {
    if (file === null) delete next[name];
    else next[name] = file;
  }
  return Object.keys(next).length === 0 ? undefined : next;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return `an object (${Object.getPrototypeOf(value)?.constructor?.name ?? "no prototype"})`;
  return typeof value;
}
