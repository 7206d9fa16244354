/**
 * The S3 + PostgreSQL backend against s3rver and this machine's PostgreSQL
 * (each test file in its own schema): the remote conformance suite over
 * its objects (the second client on a second backend instance, as a second
 * server would be), where each kind of name is kept, prefix listings with
 * `_` in names, tokens shared by instances, and notifications from one
 * instance to another — split when large, resumed after a lost connection.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HearthError, type Remote } from "@hearth/core";
import { remoteConformance, waitFor, type RemoteFactory } from "@hearth/core/testing";
import { S3Objects, createS3Client, parseS3Url } from "@hearth/s3";
import { S3RVER_CREDENTIALS } from "../../s3/test/helpers/s3rver.js";
import { openS3PgBackend } from "../src/backend/s3pg/index.js";
import type { PgNotifier } from "../src/backend/s3pg/notifier.js";
import type { ObjectChange } from "../src/backend/types.js";
import { payloads } from "../src/backend/s3pg/notifier.js";
import { hashSecret, parseToken } from "../src/backend/token-secret.js";
import type { Backend, ObjectBackend } from "../src/backend/types.js";
import { describeTokenStore } from "./helpers/token-store-suite.js";
import { POSTGRES, startS3Pg, type S3PgFixture } from "./s3pg-fixture.js";

let fx: S3PgFixture;
let one: Backend;
let two: Backend;
let counter = 0;
const ledger = (what: string): string => `${what}-${++counter}`;
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

beforeAll(async () => {
  fx = await startS3Pg("backend");
  one = await fx.open();
  two = await fx.open();
});

afterAll(async () => {
  await fx?.cleanup();
});

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(HearthError);
  return (err as HearthError).code;
}

/** One ledger of an object backend seen as a remote, so the remote suite can judge it. */
function asRemote(objects: ObjectBackend, name: string): Remote {
  let closed = false;
  const open = (): void => {
    if (closed) throw new HearthError("STORE_CLOSED", "closed");
  };
  return {
    url: `s3pg:${name}`,
    supports: { watch: false, persistent: true },
    put: async (n, b) => (open(), objects.put(name, n, b)),
    get: async (n) => (open(), objects.get(name, n)),
    list: async (p) => (open(), objects.list(name, p)),
    delete: async (n) => (open(), objects.delete(name, n)),
    ...(objects.putAll && { putAll: async (entries: readonly (readonly [string, Uint8Array])[]) => (open(), objects.putAll!(name, entries)) }),
    close: async () => {
      closed = true;
    },
  };
}

describe("s3pg objects: remote conformance", () => {
  const factory: RemoteFactory = {
    label: "s3pg",
    async open() {
      const l = ledger("conf");
      return { remote: asRemote(one.objects, l), openAnother: async () => asRemote(two.objects, l) };
    },
  };
  for (const c of remoteConformance(factory)) it(c.name, c.run, 30_000);
});

describe("s3pg objects", () => {
  it("keeps bundles in S3 under <prefix>/<ledger>/ and every other name in PostgreSQL", async () => {
    const l = ledger("split");
    await one.objects.put(l, "bundle/b1", bytes("bundle"));
    await one.objects.put(l, "head/h1", bytes("head"));
    await one.objects.put(l, "key/share-1", bytes("key"));
    const { bucket, prefix } = parseS3Url(fx.options().s3);
    const raw = new S3Objects({ client: createS3Client(parseS3Url(fx.options().s3), { credentials: S3RVER_CREDENTIALS }), bucket, prefix: `${prefix}/${l}` });
    expect(await raw.list("")).toEqual(["bundle/b1"]);
    const rows = await fx.sql<{ name: string }>(`SELECT name FROM "${fx.schema}".objects WHERE ledger = $1 ORDER BY name`, [l]);
    expect(rows.map((r) => r.name)).toEqual(["head/h1", "key/share-1"]);
    expect(await two.objects.list(l, "")).toEqual(["bundle/b1", "head/h1", "key/share-1"]);
    expect(await two.objects.list(l, "b")).toEqual(["bundle/b1"]);
    expect(await two.objects.list(l, "bundle")).toEqual(["bundle/b1"]);
    expect(await two.objects.list(l, "h")).toEqual(["head/h1"]);
  });

  it("lists by plain prefix: _ in names and prefixes is no wildcard", async () => {
    const l = ledger("underscore");
    for (const n of ["key/a", "key/a_", "key/a_b", "key/aab", "key/aXb", "key/a-b", "key/b_"]) await one.objects.put(l, n, bytes(n));
    expect(await two.objects.list(l, "key/a_")).toEqual(["key/a_", "key/a_b"]);
    expect(await two.objects.list(l, "key/a")).toEqual(["key/a", "key/a-b", "key/aXb", "key/a_", "key/a_b", "key/aab"]);
    expect(await two.objects.list(l, "key/_")).toEqual([]);
    expect(await two.objects.list(l, "key/b")).toEqual(["key/b_"]);
    // "%" is no name character: refused, never a wildcard.
    expect(await codeOf(two.objects.list(l, "key/%"))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(two.objects.put(l, "key/%", bytes("x")))).toBe("INVALID_ARGUMENT");
  });

  it("putAll stores bundles in S3 and the rest in one statement, in order, visible to the other instance; a bad name stores nothing", async () => {
    const l = ledger("batch");
    await one.objects.putAll!(l, [["bundle/b1", bytes("b1")], ["head/h1", bytes("h1")], ["head/h2", bytes("h2")], ["bundle/b2", bytes("b2")], ["head/h1", bytes("h1 again")]]);
    expect(await two.objects.list(l, "")).toEqual(["bundle/b1", "bundle/b2", "head/h1", "head/h2"]);
    expect(await two.objects.get(l, "head/h1")).toEqual(bytes("h1 again"));
    expect(await two.objects.get(l, "bundle/b2")).toEqual(bytes("b2"));
    expect(await codeOf(one.objects.putAll!(l, [["head/ok", bytes("x")], ["../bad", bytes("y")]]))).toBe("INVALID_ARGUMENT");
    expect(await two.objects.get(l, "head/ok")).toBeUndefined();
  });

  it("keeps ledgers apart and refuses malformed ledger names", async () => {
    const [a, b] = [ledger("apart"), ledger("apart")];
    await one.objects.put(a, "head/x", bytes("a"));
    await one.objects.put(a, "bundle/x", bytes("a"));
    expect(await one.objects.list(b, "")).toEqual([]);
    expect(await one.objects.get(b, "head/x")).toBeUndefined();
    expect(await one.objects.get(b, "bundle/x")).toBeUndefined();
    for (const bad of ["", ".hidden", "a/b", "a b", "x".repeat(129)]) {
      expect(await codeOf(one.objects.put(bad, "head/x", bytes("x"))), bad).toBe("INVALID_ARGUMENT");
      expect(await codeOf(one.objects.list(bad, "")), bad).toBe("INVALID_ARGUMENT");
    }
  });
});

describeTokenStore({ label: "s3pg", stores: async () => ({ one: one.tokens, two: two.tokens }), ledger });

describe("s3pg tokens", () => {
  it("stores only the secret's hash, never the token", async () => {
    const { record, token } = await one.tokens.create({ ledger: ledger("tok"), rights: "read-write" });
    const parsed = parseToken(token);
    const rows = await fx.sql<{ secret_sha256: string }>(`SELECT * FROM "${fx.schema}".tokens WHERE id = $1`, [record.id]);
    expect(rows[0]?.secret_sha256).toBe(hashSecret(parsed!.secret));
    expect(JSON.stringify(rows)).not.toContain(parsed!.secret);
  });
});

describe("s3pg notifier", () => {
  const put = (name: string, value?: string): ObjectChange => (value === undefined ? { name, op: "put" } : { name, op: "put", bytes: bytes(value) });
  const names = (changes: readonly ObjectChange[] | undefined): string[] | undefined => changes?.map((c) => c.name);

  it("a publish on one instance reaches subscribers on the other, and on its own at once", async () => {
    const l = ledger("notify");
    const onTwo: (readonly ObjectChange[] | undefined)[] = [];
    const onOne: (readonly ObjectChange[] | undefined)[] = [];
    const other: unknown[] = [];
    const stopTwo = await two.notifier.subscribe(l, (changes) => onTwo.push(changes));
    const stopOne = await one.notifier.subscribe(l, (changes) => onOne.push(changes));
    const stopOther = await two.notifier.subscribe(ledger("notify"), (changes) => other.push(changes));
    const started = Date.now();
    await one.notifier.publish(l, [put("head/a", "value of a"), put("head/b"), { name: "head/z", op: "delete" }]);
    expect(onOne.map(names)).toEqual([["head/a", "head/b", "head/z"]]); // local subscribers hear before publish resolves
    await waitFor(() => onTwo.length > 0, 5_000, "instance two to hear instance one's change");
    const ms = Date.now() - started;
    // The other instance gets the same changes, small values included.
    const heard = onTwo[0]!;
    expect(heard.map((c) => [c.name, c.op])).toEqual([["head/a", "put"], ["head/b", "put"], ["head/z", "delete"]]);
    expect(new TextDecoder().decode(heard[0]!.bytes)).toBe("value of a");
    expect(heard[1]!.bytes).toBeUndefined();
    expect(onOne).toHaveLength(1); // its own notification is not delivered twice
    expect(ms).toBeLessThan(5_000);

    // Changes not known exactly (a batch that failed halfway): everyone hears "anything may have changed".
    await one.notifier.publish(l, undefined);
    await waitFor(() => onTwo.length > 1, 5_000, "instance two to hear the unspecified change");
    expect([onOne.at(-1), onTwo.at(-1)]).toEqual([undefined, undefined]);

    stopTwo();
    await one.notifier.publish(l, [put("head/c")]);
    await two.notifier.publish(l, [put("head/d")]); // reaches one; proves delivery happened after two's unsubscribe
    await waitFor(() => onOne.length === 4, 5_000, "instance one to hear instance two's change");
    expect(onTwo).toHaveLength(2);
    expect(other).toEqual([]);
    stopOne();
    stopOther();
  });

  it("a change with more names than one NOTIFY can carry arrives whole, in pieces; a value too big for one travels without it", async () => {
    const l = ledger("big");
    const changes = Array.from({ length: 400 }, (_, i) => put(`head/${String(i).padStart(4, "0")}${"x".repeat(60)}`, i === 7 ? "y".repeat(7_000) : "small"));
    const pieces = payloads("0123456789abcdef", l, changes);
    expect(pieces.length).toBeGreaterThan(1);
    for (const p of pieces) expect(Buffer.byteLength(p)).toBeLessThan(8_000);
    const got: ObjectChange[] = [];
    const stop = await two.notifier.subscribe(l, (c) => got.push(...(c ?? [])));
    await one.notifier.publish(l, changes);
    await waitFor(() => got.length >= changes.length, 5_000, "every change to arrive");
    expect(got.map((c) => c.name)).toEqual(changes.map((c) => c.name));
    expect(got[7]!.bytes).toBeUndefined();
    expect(new TextDecoder().decode(got[8]!.bytes)).toBe("small");
    stop();
  });

  it("after its listening connection is cut, an instance reconnects, tells its watchers to re-list, and hears later changes", async () => {
    const l = ledger("cut");
    const errors: string[] = [];
    const three = await fx.open({ onError: (message) => errors.push(message) });
    const heard: (readonly ObjectChange[] | undefined)[] = [];
    await three.notifier.subscribe(l, (changes) => heard.push(changes));
    const notifier = three.notifier as PgNotifier;
    const pid = await notifier.listenerPid();
    expect(pid).toBeTypeOf("number");
    await fx.sql("SELECT pg_terminate_backend($1)", [pid]);
    // Changes published while it was deaf are lost: watchers hear "anything may have changed".
    await waitFor(() => heard.includes(undefined), 10_000, "the resync after reconnecting");
    const newPid = await notifier.listenerPid();
    expect(newPid).toBeTypeOf("number");
    expect(newPid).not.toBe(pid);
    expect(errors.length).toBeGreaterThan(0);
    await one.notifier.publish(l, [put("head/after")]);
    await waitFor(() => heard.some((c) => names(c)?.includes("head/after")), 5_000, "a change published after reconnecting");
    await three.close();
  });
});

describe("s3pg backend lifecycle", () => {
  it("instances starting together on a fresh schema both come up", async () => {
    const schema = `${fx.schema.slice(0, 40)}_fresh`;
    try {
      const both = await Promise.all([fx.open({ schema }), fx.open({ schema })]);
      await both[0]!.objects.put("l", "head/x", bytes("x"));
      expect(await both[1]!.objects.list("l", "")).toEqual(["head/x"]);
    } finally {
      await fx.sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });

  it("refuses bad options and an unreachable database with codes", async () => {
    const base = fx.options();
    expect(await codeOf(openS3PgBackend({ ...base, schema: "Bad-Schema" }))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(openS3PgBackend({ ...base, s3: "s3://" }))).toBe("INVALID_URL");
    expect(await codeOf(openS3PgBackend({ ...base, postgres: "" }))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(openS3PgBackend({ ...base, postgres: POSTGRES.replace(":5432", ":1") }))).toBe("STORAGE_FAILED");
  });

  it("describes itself without the database password, closes idempotently, then refuses work", async () => {
    const backend = await openS3PgBackend({ ...fx.options(), postgres: POSTGRES.replace("postgres@", "postgres:sekrit@") });
    expect(backend.description).toContain("s3+postgres");
    expect(backend.description).not.toContain("sekrit");
    await backend.close();
    await backend.close();
    expect(await codeOf(backend.objects.get("l", "head/x"))).toBe("STORE_CLOSED");
    expect(await codeOf(backend.tokens.list())).toBe("STORE_CLOSED");
    expect(await codeOf(backend.notifier.publish("l", []))).toBe("STORE_CLOSED");
  });
});
