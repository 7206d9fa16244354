/**
 * The browser test page's script: runs the portable conformance suites in
 * real Chromium, one case at a time, and reports each result to the Node
 * runner (`run.mjs`) through the `__hearthReport` binding it exposes.
 *
 * To add a suite, add one line to {@link SUITES}.
 *
 * @module
 */
import type { TestCase } from "../../src/testing/harness.js";
import { storeConformance, type StoreFactory } from "../../src/testing/store-suite.js";
import { keyringConformance, type KeyringFactory } from "../../src/testing/keyring-suite.js";
import { openIndexedDbKeyring } from "../../src/keyring/indexeddb.js";
import type { Keyring } from "../../src/keyring/types.js";
import { openEncryptedStore } from "../../src/store/encrypted.js";
import { deleteDatabase, openIndexedDbStore } from "../../src/store/indexeddb.js";
import { openMemoryStore } from "../../src/store/memory.js";
import { indexedDbCases } from "./indexeddb-cases.js";
import { ledgerConformance, type LedgerFactory } from "../../src/testing/ledger-suite.js";
import { open } from "../../src/index.browser.js";
import type { Ledger } from "../../src/ledger/ledger.js";
import { syncConformance, type SyncFactory } from "../../src/testing/sync-suite.js";
import { remoteConformance, type RemoteFactory } from "../../src/testing/remote-suite.js";
import { dropMemoryRemote, openMemoryRemote } from "../../src/remote/memory.js";
import { addFileInput, fileInputCases } from "./file-input-cases.js";
import type { Report } from "./page-cases.js";

const fileInput = addFileInput();

/** Every suite the browser run executes, in order. Each entry produces its cases. */
const SUITES: ReadonlyArray<() => TestCase[] | Promise<TestCase[]>> = [
  () => storeConformance(indexedDbStores("indexeddb")),
  () => storeConformance(memoryStores()),
  () => keyringConformance(indexedDbKeyrings()),
  () => storeConformance(encryptedIndexedDbStores()),
  () => indexedDbCases(uniqueIndexedDbUrl),
  () => ledgerConformance(indexedDbLedgers()),
  () => ledgerConformance(memoryLedgers()),
  () => syncConformance(indexedDbSyncSessions()),
  () => remoteConformance(memoryRemotes()),
  () => fileInputCases(fileInput, uniqueIndexedDbUrl),
];

/** Ledgers through the browser `open()` on IndexedDB, each with its own IndexedDB keyring. */
function indexedDbLedgers(): LedgerFactory {
  return {
    label: "ledger(indexeddb)",
    async open() {
      const store = uniqueIndexedDbUrl("ledger");
      const keyring = uniqueIndexedDbUrl("ledger-keyring");
      const other = uniqueIndexedDbUrl("ledger-other-keyring");
      return {
        db: await open("browser-ledger", { store, keyring }),
        reopen: () => open("browser-ledger", { store, keyring }),
        openWithOtherKeyring: () => open("browser-ledger", { store, keyring: other }),
      };
    },
  };
}

/** Ledgers on memory stores, as in Node, but in the browser's WebCrypto. */
function memoryLedgers(): LedgerFactory {
  return {
    label: "ledger(memory)",
    async open() {
      const name = `browser-${randomSuffix()}`;
      const options = { store: `memory://${name}`, keyring: `memory://${name}-keys` };
      return {
        db: await open(name, options),
        reopen: () => open(name, options),
        openWithOtherKeyring: () => open(name, { ...options, keyring: `memory://${name}-other` }),
      };
    },
  };
}

/**
 * Sync between IndexedDB ledgers, each device its own IndexedDB keyring,
 * through an in-page memory sync point.
 */
function indexedDbSyncSessions(): SyncFactory {
  return {
    label: "sync(indexeddb ledgers, memory sync point)",
    async session() {
      const scope = randomSuffix();
      const point = `memory://browser-sync-${scope}`;
      const opened: Ledger[] = [];
      const urls: string[] = [];
      return {
        async open(name, device) {
          const store = `indexeddb://hearth-test-sync-${scope}-${name}`;
          const keyring = `indexeddb://hearth-test-sync-${scope}-device-${device}`;
          urls.push(store, keyring);
          const db = await open(name, { store, keyring });
          opened.push(db);
          return db;
        },
        target: () => point,
        async close() {
          for (const db of opened) await db.close().catch(() => undefined);
          dropMemoryRemote(point);
          for (const url of new Set(urls)) await deleteDatabase(url.slice("indexeddb://".length)).catch(() => undefined);
        },
      };
    },
  };
}

let nameCounter = 0;

/** A unique database name per case, so cases never see each other's data, even from an aborted earlier run. */
function uniqueIndexedDbUrl(label: string): string {
  return `indexeddb://hearth-test-${label}-${++nameCounter}-${randomSuffix()}`;
}

function randomSuffix(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function indexedDbStores(label: string): StoreFactory {
  return {
    label,
    async open() {
      const url = uniqueIndexedDbUrl(label);
      return { store: await openIndexedDbStore(url), reopen: () => openIndexedDbStore(url) };
    },
  };
}

/** The encryption layer over IndexedDB, keys in one IndexedDB keyring shared by every case (as a device would). */
function encryptedIndexedDbStores(): StoreFactory {
  let keyring: Promise<Keyring> | undefined;
  return {
    label: "encrypted(indexeddb)",
    async open() {
      keyring ??= openIndexedDbKeyring(uniqueIndexedDbUrl("encrypted-keyring"));
      const ring = await keyring;
      const url = uniqueIndexedDbUrl("encrypted");
      return {
        store: await openEncryptedStore(await openIndexedDbStore(url), ring),
        reopen: async () => openEncryptedStore(await openIndexedDbStore(url), ring),
      };
    },
  };
}

function indexedDbKeyrings(): KeyringFactory {
  return {
    label: "indexeddb keyring",
    async open() {
      const url = uniqueIndexedDbUrl("keyring");
      return {
        keyring: await openIndexedDbKeyring(url),
        reopen: () => openIndexedDbKeyring(url),
        cleanup: () => deleteDatabase(url.slice("indexeddb://".length)),
      };
    },
  };
}

function memoryStores(): StoreFactory {
  return {
    label: "memory",
    async open() {
      return { store: await openMemoryStore(`memory://browser-test-${++nameCounter}-${randomSuffix()}`) };
    },
  };
}

/** Memory remotes, each case on its own sync point, freed afterwards. */
function memoryRemotes(): RemoteFactory {
  return {
    label: "memory remote",
    async open() {
      const url = `memory://browser-remote-${++nameCounter}-${randomSuffix()}`;
      return { remote: await openMemoryRemote(url), openAnother: () => openMemoryRemote(url), cleanup: async () => dropMemoryRemote(url) };
    },
  };
}

async function report(message: Report): Promise<void> {
  const send = globalThis.__hearthReport;
  if (!send) throw new Error("no __hearthReport binding: open this page through test/browser/run.mjs");
  await send(message);
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const stack = err.stack?.includes(err.message) ? err.stack : `${err.name}: ${err.message}\n${err.stack ?? ""}`;
    return typeof code === "string" ? `[${code}] ${stack}` : stack;
  }
  return String(err);
}

async function runAll(): Promise<void> {
  for (const [index, produce] of SUITES.entries()) {
    let cases: TestCase[];
    try {
      cases = await produce();
    } catch (err) {
      await report({ type: "case", name: `suite #${index + 1} (setup)`, ok: false, ms: 0, error: describeError(err) });
      continue;
    }
    for (const testCase of cases) {
      await report({ type: "start", name: testCase.name });
      const started = performance.now();
      try {
        await testCase.run();
        await report({ type: "case", name: testCase.name, ok: true, ms: performance.now() - started });
      } catch (err) {
        await report({ type: "case", name: testCase.name, ok: false, ms: performance.now() - started, error: describeError(err) });
      }
    }
  }
  await report({ type: "done" });
}

void runAll();
