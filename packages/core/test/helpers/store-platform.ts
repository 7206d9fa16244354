/**
 * The Node platform with every store it opens seen through a wrapper, for
 * tests that watch or fail what a ledger writes.
 *
 * @module
 */
import { nodePlatform } from "../../src/platform/node.js";
import type { ByteStore, WriteBatch, WriteOptions } from "../../src/store/types.js";

/** Decides a write: `inner` is the store's own `write`, which the hook may call, skip, or replace with a rejection. */
export type WriteHook = (batch: WriteBatch, options: WriteOptions | undefined, inner: (batch: WriteBatch, options?: WriteOptions) => Promise<void>) => Promise<void>;

/** {@link nodePlatform} whose stores pass each `write` through `hook`; everything else goes to the store as it is. */
export function platformWithWrites(hook: WriteHook): typeof nodePlatform {
  return {
    ...nodePlatform,
    async openStore(url: string, options?: Parameters<typeof nodePlatform.openStore>[1]): Promise<ByteStore> {
      const inner = await nodePlatform.openStore(url, options);
      return {
        url: inner.url,
        supports: inner.supports,
        get: (key) => inner.get(key),
        list: (prefix) => inner.list(prefix),
        write: (batch, writeOptions) => hook(batch, writeOptions, (b, o) => inner.write(b, o)),
        close: () => inner.close(),
        destroy: () => inner.destroy(),
      };
    },
  };
}
