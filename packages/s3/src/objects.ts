/**
 * Remote names over one bucket and key prefix: name `n` is the object
 * `<prefix>/n`. Shared by the S3 remote (one sync point) and the sync
 * server's S3 backend (one prefix per ledger), so both store, list and map
 * errors the same way.
 *
 * Plain PutObject only: the sync protocol writes immutable names
 * (`bundle/<cid>`, `head/<cid>`) or names one writer owns (`key/<device>`),
 * so no conditional write is needed and any S3-compatible store works.
 *
 * @module
 */
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { assertRemoteName, assertRemotePrefix } from "@hearth/core";
import { isMissingKey, s3Failure } from "./errors.js";

/** One listed object: its name and what changes when it is rewritten. */
export interface S3Entry {
  readonly name: string;
  /** ETag, modification time and size: differs after any overwrite with other bytes. */
  readonly version: string;
}

/** How to reach the objects. */
export interface S3ObjectsOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** Key prefix without leading or trailing `/`; `""` for the bucket's root. */
  readonly prefix: string;
  /** Names the objects in error messages (`s3://bucket/prefix`). */
  readonly label?: string;
  /** @internal Keys per listing page (S3's maximum, 1000, by default); tests lower it to exercise paging. */
  readonly maxKeys?: number;
}

/** Remote names stored as objects under one key prefix. */
export class S3Objects {
  readonly bucket: string;
  readonly label: string;
  private readonly client: S3Client;
  private readonly keyPrefix: string;
  private readonly maxKeys: number | undefined;

  constructor(options: S3ObjectsOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.keyPrefix = options.prefix === "" ? "" : `${options.prefix}/`;
    this.label = options.label ?? `s3://${options.bucket}${options.prefix ? `/${options.prefix}` : ""}`;
    this.maxKeys = options.maxKeys;
  }

  /** Stores a copy of `bytes` under `name` (validated). */
  async put(name: string, bytes: Uint8Array): Promise<void> {
    assertRemoteName(name);
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`value for remote name ${JSON.stringify(name)} must be a Uint8Array`);
    const body = bytes.slice(); // the caller may change its array while the upload runs
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: this.keyPrefix + name, Body: body, ContentLength: body.byteLength, ContentType: "application/octet-stream" }),
      );
    } catch (err) {
      throw s3Failure(err, `cannot store ${name} in ${this.label}`, this.bucket);
    }
  }

  /** The bytes under `name`, or undefined. */
  async get(name: string): Promise<Uint8Array | undefined> {
    assertRemoteName(name);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.keyPrefix + name }));
      if (!out.Body) return new Uint8Array(0);
      const bytes = await out.Body.transformToByteArray();
      // Never hand out a Buffer view into a shared pool: callers own what they get.
      return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && !Buffer.isBuffer(bytes) ? bytes : new Uint8Array(bytes);
    } catch (err) {
      if (isMissingKey(err)) return undefined;
      throw s3Failure(err, `cannot read ${name} from ${this.label}`, this.bucket);
    }
  }

  /** Names under `prefix` (validated), ascending. */
  async list(prefix: string): Promise<string[]> {
    return (await this.entries(prefix)).map((e) => e.name);
  }

  /**
   * Names under `prefix` with their versions, ascending, across every page
   * of the listing. Objects under the key prefix that are not valid names
   * (a console's `folder/` marker, stray uploads) are left out.
   */
  async entries(prefix: string): Promise<S3Entry[]> {
    assertRemotePrefix(prefix);
    const out: S3Entry[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.keyPrefix + prefix, ContinuationToken: token, MaxKeys: this.maxKeys }),
        );
        for (const object of page.Contents ?? []) {
          const name = object.Key?.slice(this.keyPrefix.length);
          if (name === undefined || !isName(name)) continue;
          out.push({ name, version: `${object.ETag ?? ""}:${object.LastModified?.getTime() ?? ""}:${object.Size ?? ""}` });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (err) {
      throw s3Failure(err, `cannot list ${JSON.stringify(prefix)} in ${this.label}`, this.bucket);
    }
    // S3 lists in UTF-8 byte order, which is plain string order for names;
    // sorting anyway keeps stores that walk directories (s3rver) in line.
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Removes `name` (validated); a missing name is fine. */
  async delete(name: string): Promise<void> {
    assertRemoteName(name);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyPrefix + name }));
    } catch (err) {
      if (isMissingKey(err)) return; // S3 answers 204; some compatible stores say 404
      throw s3Failure(err, `cannot delete ${name} from ${this.label}`, this.bucket);
    }
  }
}

function isName(name: string): boolean {
  try {
    assertRemoteName(name);
    return true;
  } catch {
    return false;
  }
}
