/**
 * Turns AWS SDK failures into Hearth's codes, so the sync engine reacts the
 * same way to S3 as to every other remote: a refused credential is
 * `UNAUTHORIZED` (retrying will not help; the user must act), everything
 * else is `STORAGE_FAILED` (the engine retries), with a message that says
 * what to check.
 *
 * @module
 */
import { HearthError } from "@hearth/core";

/** The parts of an SDK error (S3ServiceException, network errors) we branch on. */
interface SdkErrorShape {
  readonly name?: string;
  readonly Code?: string;
  readonly code?: string;
  readonly message?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

/** Error names S3 (and compatible stores) use for a credential it refuses. */
const REFUSED = new Set([
  "AccessDenied",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "InvalidToken",
  "TokenRefreshRequired",
  "AccountProblem",
  "AllAccessDisabled",
  "InvalidSecurity",
  "NotSignedUp",
]);

/** The SDK found no credentials at all (no env, no profile, no role). */
const NO_CREDENTIALS = new Set(["CredentialsProviderError", "CredentialsError"]);

function shape(err: unknown): SdkErrorShape {
  return typeof err === "object" && err !== null ? (err as SdkErrorShape) : {};
}

/** The S3 error code of `err` (`NoSuchKey`, `AccessDenied`, …), if it has one. */
export function s3ErrorCode(err: unknown): string | undefined {
  const e = shape(err);
  return e.Code ?? e.name;
}

/** HTTP status of a failed S3 request, if the request got an answer. */
export function s3Status(err: unknown): number | undefined {
  return shape(err).$metadata?.httpStatusCode;
}

/** True when `err` says the key does not exist (a missing value, not a failure). */
export function isMissingKey(err: unknown): boolean {
  const code = s3ErrorCode(err);
  return code === "NoSuchKey" || code === "NotFound" || (s3Status(err) === 404 && code !== "NoSuchBucket");
}

/**
 * The HearthError for a failed S3 call.
 *
 * @param err - what the SDK threw
 * @param what - the operation, as a phrase ("cannot store bundle/x in s3://b/p")
 * @param bucket - named in the message when the bucket itself is missing
 */
export function s3Failure(err: unknown, what: string, bucket: string): HearthError {
  if (err instanceof HearthError) return err;
  const code = s3ErrorCode(err);
  const status = s3Status(err);
  const detail = shape(err).message ?? String(err);
  if ((code !== undefined && REFUSED.has(code)) || status === 401 || status === 403) {
    return new HearthError(
      "UNAUTHORIZED",
      `${what}: S3 refused the credentials (${code ?? status}: ${detail}); check the access key and secret (options.credentials, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the AWS profile) and that they may read, write, list and delete in bucket ${JSON.stringify(bucket)}`,
      { cause: err },
    );
  }
  if (code !== undefined && NO_CREDENTIALS.has(code)) {
    return new HearthError(
      "UNAUTHORIZED",
      `${what}: no AWS credentials were found; pass options.credentials, set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or configure an AWS profile (${detail})`,
      { cause: err },
    );
  }
  if (code === "NoSuchBucket") {
    return new HearthError(
      "STORAGE_FAILED",
      `${what}: bucket ${JSON.stringify(bucket)} does not exist at this endpoint; create it (e.g. \`aws s3 mb s3://${bucket}\`) or fix the bucket name, endpoint and region in the URL`,
      { cause: err },
    );
  }
  const reason =
    status === undefined ? `the store could not be reached (${shape(err).code ?? code ?? "network error"}: ${detail}); check the endpoint and the network`
    : status >= 500 || code === "SlowDown" || code === "RequestTimeout" || status === 429 ? `the store failed or is throttling (${code ?? status}: ${detail}); it will be retried`
    : `S3 answered ${status} ${code ?? ""} (${detail})`;
  return new HearthError("STORAGE_FAILED", `${what}: ${reason}`, { cause: err });
}
