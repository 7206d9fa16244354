/**
 * S3 sync point URLs, parsed in one place:
 *
 * `s3://<bucket>[/<prefix>][?endpoint=<url>&region=<region>&forcePathStyle=true|false]`
 *
 * The prefix keeps several sync points apart in one bucket (each name `n`
 * is stored under the key `<prefix>/n`). `endpoint` points at an
 * S3-compatible store (MinIO, R2, Ceph, s3rver); AWS itself needs none.
 * Credentials never go in the URL: the URL names a sync point in messages
 * and logs, so it must be safe to print.
 *
 * @module
 */
import { HearthError, assertRemoteName } from "@hearth/core";

/** A parsed S3 sync point URL. */
export interface S3Location {
  readonly bucket: string;
  /** Key prefix without leading or trailing `/`; `""` for the bucket's root. */
  readonly prefix: string;
  /** Custom endpoint (S3-compatible stores); absent for AWS. */
  readonly endpoint?: string;
  readonly region?: string;
  /** Path-style requests (`endpoint/bucket/key`); absent means "the default for this endpoint". */
  readonly forcePathStyle?: boolean;
}

/**
 * Lenient on purpose: old AWS buckets and other stores allow more than
 * today's AWS rules (3–63 of lowercase, digits, `.` and `-`); the store
 * itself refuses what it does not accept.
 */
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/;
const PARAMS = new Set(["endpoint", "region", "forcePathStyle"]);
const FORM = `"s3://bucket/prefix?endpoint=http://host:port&region=us-east-1&forcePathStyle=true"`;

/**
 * Parses an S3 sync point URL.
 * @throws HearthError `INVALID_URL` naming the accepted form (unknown
 *   parameters too: a misspelt `endpoint` must not silently mean AWS)
 */
export function parseS3Url(url: string): S3Location {
  if (typeof url !== "string") throw new TypeError("S3 remote URL must be a string");
  const match = /^s3:\/\/([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/i.exec(url);
  const invalid = (why: string): HearthError => new HearthError("INVALID_URL", `S3 URL ${JSON.stringify(url)} ${why}; use ${FORM}`);
  if (!match) throw invalid("is not an s3:// URL");
  const bucket = match[1] ?? "";
  if (!BUCKET.test(bucket)) throw invalid("has no valid bucket name");
  const prefix = decodeURIComponent((match[2] ?? "").replace(/^\/+|\/+$/g, ""));
  if (prefix !== "") {
    try {
      assertRemoteName(prefix);
    } catch {
      throw invalid(`has a malformed prefix ${JSON.stringify(prefix)} ("/"-separated segments of letters, digits, ".", "_" and "-")`);
    }
  }
  const params = new URLSearchParams(match[3] ?? "");
  for (const key of params.keys()) if (!PARAMS.has(key)) throw invalid(`has an unknown parameter ${JSON.stringify(key)}`);
  const location: { -readonly [K in keyof S3Location]: S3Location[K] } = { bucket, prefix };
  const endpoint = params.get("endpoint");
  if (endpoint !== null) {
    if (!/^https?:\/\/[^/?#]+/i.test(endpoint)) throw invalid(`has an endpoint ${JSON.stringify(endpoint)} that is not an http(s) URL`);
    location.endpoint = endpoint;
  }
  const region = params.get("region");
  if (region !== null) {
    if (!/^[a-z0-9-]{1,64}$/i.test(region)) throw invalid(`has a malformed region ${JSON.stringify(region)}`);
    location.region = region;
  }
  const pathStyle = params.get("forcePathStyle");
  if (pathStyle !== null) {
    if (pathStyle !== "true" && pathStyle !== "false") throw invalid(`has forcePathStyle=${JSON.stringify(pathStyle)} (use true or false)`);
    location.forcePathStyle = pathStyle === "true";
  }
  return location;
}

/** Formats a location back into its URL (`parseS3Url(formatS3Url(l))` equals `l`). */
export function formatS3Url(location: S3Location): string {
  const params = new URLSearchParams();
  if (location.endpoint !== undefined) params.set("endpoint", location.endpoint);
  if (location.region !== undefined) params.set("region", location.region);
  if (location.forcePathStyle !== undefined) params.set("forcePathStyle", String(location.forcePathStyle));
  const query = params.toString();
  return `s3://${location.bucket}${location.prefix ? `/${location.prefix}` : ""}${query ? `?${query}` : ""}`;
}
