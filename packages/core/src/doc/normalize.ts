/**
 * Turns what a caller hands to `put` into a plain JSON document, or refuses
 * it with `INVALID_DOC` before anything is written.
 *
 * JSON.stringify would silently drop or mangle much of what it cannot
 * represent (Maps become `{}`, NaN becomes `null`, class instances lose their
 * prototype). A database that says "plain JSON" should not store something
 * other than what the caller believes it stored, so anything that does not
 * round-trip is an error, with the path to the offending field.
 *
 * @module
 */
import { encodeDagCbor } from "../codec/cbor.js";
import { HearthError } from "../errors.js";

/**
 * A value a document holds: JSON's (null, booleans, finite numbers,
 * strings, arrays, plain objects) and byte arrays (`Uint8Array`), at any
 * depth. Bytes are stored as bytes (dag-cbor has them), read back as a
 * `Uint8Array`, order after objects in index keys, and appear in
 * `hearth export` as `{"/": {"bytes": "<base64>"}}` (DAG-JSON's form).
 */
export type JsonValue = null | boolean | number | string | Uint8Array | JsonValue[] | { [key: string]: JsonValue };

/** True for a plain object value (not null, an array or bytes). */
export function isJsonObject(value: JsonValue | undefined): value is { [key: string]: JsonValue } {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** A stored document body: the JSON object without `_id`. */
export type DocBody = { [key: string]: JsonValue };

/** Longest `_id`, in UTF-8 bytes. */
export const MAX_ID_BYTES = 1024;

/**
 * Largest document, in bytes of its stored encoding (dag-cbor): 8 MiB, as
 * CouchDB's default. A document travels to a sync point in one object, and
 * every sync point must take it (the sync server's default limit is 32
 * MiB), so a bigger one would be written here and never delivered.
 */
export const MAX_DOC_BYTES = 8 * 1024 * 1024;

/**
 * Sets `object[key] = value` as an own field, also for the key
 * `__proto__` (`JSON.parse` makes one), which plain assignment would turn
 * into `object`'s prototype, dropping the field.
 */
export function setField(object: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  else object[key] = value;
}

/** Fields Hearth adds on read and drops on write. */
const READ_ONLY_FIELDS = new Set(["_id", "_conflicts", "_deleted"]);

/**
 * Validates a document id.
 * @throws HearthError `INVALID_DOC` unless `id` is a non-empty, well-formed string of at most 1 KiB.
 */
export function checkDocId(id: unknown): string {
  if (typeof id !== "string") {
    throw new HearthError("INVALID_DOC", `document _id must be a string, got ${describe(id)}; convert it with String() first`);
  }
  if (id.length === 0) throw new HearthError("INVALID_DOC", "document _id must not be empty; omit _id to have one generated");
  if (!id.isWellFormed()) throw new HearthError("INVALID_DOC", "document _id contains a lone UTF-16 surrogate; it cannot be stored as UTF-8");
  if (utf8Length(id) > MAX_ID_BYTES) {
    throw new HearthError("INVALID_DOC", `document _id is longer than ${MAX_ID_BYTES} bytes of UTF-8; use a shorter id (e.g. a hash of the long one)`);
  }
  return id;
}

/**
 * Normalizes a document: `undefined` fields dropped (array holes and
 * `undefined` items become `null`, as in JSON), objects with `toJSON`
 * (e.g. `Date` → ISO string) replaced by its result, `_conflicts`/`_deleted`
 * dropped. Returns the body without `_id`.
 * Byte arrays (`Uint8Array`, Node's `Buffer`) are kept, as copies.
 * @throws HearthError `INVALID_DOC` for functions, symbols, BigInt, NaN/±Infinity,
 *   cycles, non-plain objects (Map, Set, class instances, typed arrays other than Uint8Array, ArrayBuffer) and bad keys;
 *   `TOO_LARGE` for a body over {@link MAX_DOC_BYTES}
 */
export function normalizeDoc(doc: unknown): { id: string | undefined; body: DocBody; bytesAtMost: number } {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new HearthError("INVALID_DOC", `a document must be a plain object, got ${describe(doc)}`);
  }
  const rawId = (doc as { _id?: unknown })._id;
  const id = rawId === undefined ? undefined : checkDocId(rawId);
  const size = { atMost: 0 };
  const body = normalizeObject(doc as Record<string, unknown>, [], [doc], true, size);
  // The bound costs an addition per value; only a body that may be too big is encoded to know.
  if (size.atMost > MAX_DOC_BYTES) {
    const bytes = encodeDagCbor(body).length;
    if (bytes > MAX_DOC_BYTES) {
      throw new HearthError(
        "TOO_LARGE",
        `document ${id === undefined ? "" : `${JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}…` : id)} `}is ${mib(bytes)} stored; ` +
          `a document may hold at most ${mib(MAX_DOC_BYTES)}, so that every sync point can take it in one piece. ` +
          "Put large values in _files (e.g. { _files: { \"data.bin\": bytes } }), which has no such limit; nothing was written",
      );
    }
  }
  return { id, body, bytesAtMost: size.atMost };
}

/**
 * An upper bound on the dag-cbor bytes of what was normalized so far: each
 * item's head at most 9 bytes, a string at most 3 bytes of UTF-8 per UTF-16
 * code unit.
 */
interface SizeBound {
  atMost: number;
}

/**
 * Where normalization is in a document: the keys and array indexes from its
 * root. Kept as steps, and written out only for an error message or a
 * `toJSON` call: building the path of every field as a string allocated
 * more than the rest of normalizing it.
 */
type Path = Array<string | number>;

/** `path` as error messages give it: `a.b[2].c` (empty at the root). */
function pathText(path: Path): string {
  let out = "";
  for (const step of path) out = typeof step === "number" ? `${out}[${step}]` : out ? `${out}.${step}` : step;
  return out;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * Normalizes one value at `path`. `ancestors` are the objects and arrays
 * being normalized around it, innermost last (a cycle is one of them again):
 * a stack, as documents are shallow, where a `Set` per document (and its
 * table, rebuilt as it grew and shrank) was most of what normalizing a
 * small document allocated.
 */
function normalizeValue(value: unknown, path: Path, ancestors: object[], size: SizeBound): JsonValue | undefined {
  size.atMost += 9;
  switch (typeof value) {
    case "string":
      if (!value.isWellFormed()) fail(path, "is a string with a lone UTF-16 surrogate");
      size.atMost += 3 * value.length;
      return value;
    case "boolean":
      return value;
    case "number":
      if (!Number.isFinite(value)) fail(path, `is ${value}, which JSON cannot represent`);
      return Object.is(value, -0) ? 0 : value;
    case "undefined":
      return undefined;
    case "bigint":
      return fail(path, "is a BigInt; store it as a string (value.toString())");
    case "function":
      return fail(path, "is a function");
    case "symbol":
      return fail(path, "is a symbol");
  }
  if (value === null) return null;
  // Before toJSON: a Node Buffer is a Uint8Array with a toJSON of its own. Stored as a copy, a plain Uint8Array.
  if (value instanceof Uint8Array) {
    size.atMost += value.length;
    return new Uint8Array(value);
  }
  const object = value as object;
  if (ancestors.includes(object)) fail(path, "is part of a cycle");
  ancestors.push(object);
  let out: JsonValue | undefined;
  if (typeof (object as { toJSON?: unknown }).toJSON === "function") {
    out = normalizeValue((object as { toJSON(key: string): unknown }).toJSON(pathText(path)), path, ancestors, size);
  } else if (Array.isArray(object)) {
    const items: JsonValue[] = [];
    for (let i = 0; i < object.length; i++) {
      path.push(i);
      items.push(normalizeValue(object[i], path, ancestors, size) ?? null);
      path.pop();
    }
    out = items;
  } else {
    const proto = Object.getPrototypeOf(object);
    if (proto !== Object.prototype && proto !== null) {
      const bytes = ArrayBuffer.isView(object) || object instanceof ArrayBuffer || (typeof Blob !== "undefined" && object instanceof Blob);
      fail(
        path,
        `is a ${object.constructor?.name ?? "non-plain object"}; only plain objects, arrays, JSON scalars and Uint8Array can be stored` +
          (bytes ? " (wrap bytes in a Uint8Array: new Uint8Array(buffer); large content goes in _files)" : ""),
      );
    }
    out = normalizeObject(object as Record<string, unknown>, path, ancestors, false, size);
  }
  ancestors.pop();
  return out;
}

/** The plain object `object` (already on `ancestors`) normalized; `top`: the document itself. */
function normalizeObject(object: Record<string, unknown>, path: Path, ancestors: object[], top: boolean, size: SizeBound): DocBody {
  const out: DocBody = {};
  // Own enumerable keys in Object.keys' order, without the array it makes for every object.
  for (const key in object) {
    if (!Object.hasOwn(object, key)) continue;
    if (top && READ_ONLY_FIELDS.has(key)) continue;
    if (!key.isWellFormed()) fail(path, `has a key with a lone UTF-16 surrogate`);
    size.atMost += 9 + 3 * key.length;
    path.push(key);
    const v = normalizeValue(object[key], path, ancestors, size);
    path.pop();
    if (v !== undefined) setField(out, key, v);
  }
  return out;
}

function fail(path: Path, problem: string): never {
  throw new HearthError("INVALID_DOC", `document field ${pathText(path) || "(root)"} ${problem}; nothing was written`);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? (v.constructor?.name ?? "object") : typeof v;
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
