/**
 * Builds the AWS SDK client for an {@link S3Location}. Settings the URL
 * leaves open come from the standard AWS places (credentials: env, profile,
 * SSO, instance role; region: `AWS_REGION`), so a sync point URL works the
 * way every other AWS tool on the machine does.
 *
 * @module
 */
import { S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import type { S3Location } from "./url.js";

/** Client settings the URL cannot (or should not) carry. */
export interface S3ClientOptions {
  /** Credentials or a provider of them; default: the SDK's standard chain. */
  readonly credentials?: S3ClientConfig["credentials"];
  /** Overrides the URL's `region`; default `AWS_REGION`, then `us-east-1`. */
  readonly region?: string;
}

/** Connect fast, but give a 4 MiB bundle on a slow link time to go up. */
const CONNECT_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 60_000;

/**
 * A client for `location`. With a custom endpoint, path-style requests are
 * the default (MinIO, s3rver and most self-hosted stores need them; the URL
 * may say `forcePathStyle=false`).
 */
export function createS3Client(location: S3Location, options: S3ClientOptions = {}): S3Client {
  const region = options.region ?? location.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1";
  const config: S3ClientConfig = {
    region,
    forcePathStyle: location.forcePathStyle ?? location.endpoint !== undefined,
    // Only where S3 requires them: S3-compatible stores differ in which of
    // the newer flexible checksums they accept or return, and every Hearth
    // name is checked by content address (bundles, announcements) or
    // authenticated encryption (keys) on read anyway.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
  };
  if (location.endpoint !== undefined) config.endpoint = location.endpoint;
  if (options.credentials !== undefined) config.credentials = options.credentials;
  return new S3Client(config);
}
