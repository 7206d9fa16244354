/**
 * The S3 remote: a sync point straight on a bucket (AWS S3 or any
 * S3-compatible store), with no Hearth server in between.
 *
 * @module
 */
import type { S3Client } from "@aws-sdk/client-s3";
import { HearthError, assertRemotePrefix, type Remote, type RemoteChangeListener } from "@hearth/core";
import { createS3Client, type S3ClientOptions } from "./client.js";
import { S3Objects } from "./objects.js";
import { PollWatch } from "./poll-watch.js";
import { parseS3Url } from "./url.js";

/** Options for {@link openS3Remote}. */
export interface S3RemoteOptions extends S3ClientOptions {
  /** How often each watch lists its prefix (ms, default 1000). Every poll is one ListObjectsV2 request per page. */
  readonly pollMs?: number;
  /**
   * A client to use instead of one built from the URL (its endpoint,
   * region and credentials then apply; the URL gives bucket and prefix).
   * It stays open when the remote closes: whoever made it closes it.
   */
  readonly client?: S3Client;
  /** @internal Keys per listing page (S3's maximum, 1000, by default); tests lower it to exercise paging. */
  readonly maxKeys?: number;
}

/**
 * Opens a client of the S3 sync point named by `url`:
 * `s3://bucket/prefix?endpoint=…&region=…&forcePathStyle=true`. Remote
 * name `n` is stored as the object `<prefix>/n`, so one bucket holds many
 * sync points under different prefixes. Nothing is requested until the
 * first call, so opening works offline; a missing bucket or a refused
 * credential shows on the first request.
 *
 * Push is by polling (`pollMs`): S3 has no watch a client can open.
 * Credentials come from `options.credentials` or the standard AWS chain
 * (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, profiles, roles).
 *
 * Errors: a refused credential rejects `UNAUTHORIZED`; a missing bucket,
 * an unreachable store, 5xx and throttling reject `STORAGE_FAILED` (the
 * sync engine retries those).
 *
 * @throws HearthError `INVALID_URL` for a malformed URL
 * @example
 * ```ts
 * import { open } from "@hearth/core";
 * import { openS3Remote } from "@hearth/s3";
 *
 * const db = await open("todos");
 * await db.attach(await openS3Remote("s3://my-bucket/team/todos?region=eu-west-1"));
 * ```
 */
export async function openS3Remote(url: string, options: S3RemoteOptions = {}): Promise<Remote> {
  const location = parseS3Url(url);
  const pollMs = options.pollMs ?? 1000;
  if (typeof pollMs !== "number" || !(pollMs > 0) || !Number.isFinite(pollMs)) throw new TypeError("pollMs must be a positive number of milliseconds");
  const ownsClient = options.client === undefined;
  const client = options.client ?? createS3Client(location, options);
  const objects = new S3Objects({ client, bucket: location.bucket, prefix: location.prefix, label: url, maxKeys: options.maxKeys });
  return new S3Remote(url, objects, pollMs, ownsClient ? client : undefined);
}

class S3Remote implements Remote {
  /** S3 takes at most 5 GiB in one put. */
  readonly maxObjectBytes = 5 * 1024 ** 3;
  readonly supports = { watch: true, persistent: true } as const;
  private readonly watches = new Set<PollWatch>();
  private closed = false;

  constructor(
    readonly url: string,
    private readonly objects: S3Objects,
    private readonly pollMs: number,
    private readonly ownedClient: S3Client | undefined,
  ) {}

  async put(name: string, bytes: Uint8Array): Promise<void> {
    this.assertOpen();
    await this.objects.put(name, bytes);
    this.changed(name);
  }

  async get(name: string): Promise<Uint8Array | undefined> {
    this.assertOpen();
    return this.objects.get(name);
  }

  async list(prefix: string): Promise<string[]> {
    this.assertOpen();
    return this.objects.list(prefix);
  }

  async delete(name: string): Promise<void> {
    this.assertOpen();
    await this.objects.delete(name);
    this.changed(name);
  }

  watch(prefix: string, onChange: RemoteChangeListener): () => void {
    assertRemotePrefix(prefix);
    if (typeof onChange !== "function") throw new TypeError("watch listener must be a function");
    this.assertOpen();
    const watch = new PollWatch(prefix, (p) => this.objects.entries(p), onChange, this.pollMs);
    this.watches.add(watch);
    return () => {
      watch.stop();
      this.watches.delete(watch);
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const watch of this.watches) watch.stop();
    this.watches.clear();
    this.ownedClient?.destroy();
  }

  /** This client's own writes reach its watchers at once, not a poll later. */
  private changed(name: string): void {
    for (const watch of this.watches) if (name.startsWith(watch.prefix)) watch.kick();
  }

  private assertOpen(): void {
    if (this.closed) throw new HearthError("STORE_CLOSED", `remote ${this.url} is closed; open it again to use it`);
  }
}
