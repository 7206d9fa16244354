/**
 * `@hearth/s3`: a Hearth sync point straight on an S3 bucket (AWS S3 or any
 * S3-compatible store: MinIO, R2, Ceph, s3rver), with no Hearth server. The
 * bucket only ever holds ciphertext: encrypted bundles and announcements
 * and wrapped keys, under `<prefix>/bundle/…`, `<prefix>/head/…` and
 * `<prefix>/key/…`.
 *
 * It is its own package so that browser and server-less users of
 * `@hearth/core` never install the AWS SDK.
 *
 * @example
 * ```ts
 * import { open } from "@hearth/core";
 * import { openS3Remote } from "@hearth/s3";
 *
 * const db = await open("todos");
 * // AWS, credentials from the environment or the AWS profile:
 * await db.attach(await openS3Remote("s3://my-bucket/todos"));
 * // A self-hosted S3-compatible store:
 * await db.attach(await openS3Remote("s3://hearth/todos?endpoint=http://127.0.0.1:9000&region=us-east-1", {
 *   credentials: { accessKeyId: "…", secretAccessKey: "…" },
 * }));
 * ```
 *
 * @module
 */
export { openS3Remote, type S3RemoteOptions } from "./remote.js";
export { parseS3Url, formatS3Url, type S3Location } from "./url.js";
export { createS3Client, type S3ClientOptions } from "./client.js";
export { S3Objects, type S3ObjectsOptions, type S3Entry } from "./objects.js";
export { s3Failure } from "./errors.js";
