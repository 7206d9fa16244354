/**
 * What needs no server: parsing sync point URLs, and mapping AWS SDK
 * failures to Hearth's codes (with errors built the way the SDK builds them,
 * since s3rver cannot produce most of them: it checks no signature, has no
 * policies and never throttles).
 */
import { describe, expect, it } from "vitest";
import { HearthError } from "@hearth/core";
import { formatS3Url, parseS3Url, s3Failure } from "../src/index.js";
import { isMissingKey } from "../src/errors.js";

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof HearthError ? err.code : `not a HearthError: ${String(err)}`;
  }
  return undefined;
};

describe("S3 URLs", () => {
  it("parses bucket, prefix and parameters", () => {
    expect(parseS3Url("s3://my-bucket")).toEqual({ bucket: "my-bucket", prefix: "" });
    expect(parseS3Url("s3://my-bucket/")).toEqual({ bucket: "my-bucket", prefix: "" });
    expect(parseS3Url("s3://my-bucket/team/todos/")).toEqual({ bucket: "my-bucket", prefix: "team/todos" });
    expect(parseS3Url("s3://b.example/p?endpoint=http://127.0.0.1:4568&region=us-east-1&forcePathStyle=true")).toEqual({
      bucket: "b.example",
      prefix: "p",
      endpoint: "http://127.0.0.1:4568",
      region: "us-east-1",
      forcePathStyle: true,
    });
    expect(parseS3Url("s3://bkt/p?forcePathStyle=false").forcePathStyle).toBe(false);
  });

  it("round-trips through formatS3Url", () => {
    for (const url of ["s3://bkt", "s3://bkt/a/b", "s3://bkt/a?endpoint=https://minio.local:9000/&region=eu-west-1&forcePathStyle=false"]) {
      const parsed = parseS3Url(url);
      expect(parseS3Url(formatS3Url(parsed))).toEqual(parsed);
    }
  });

  it("refuses malformed URLs with INVALID_URL", () => {
    for (const url of [
      "file:///tmp/x",
      "s3://",
      "s3:///prefix",
      "s3://b/../x",
      "s3://bkt/a//b",
      "s3://bkt/has space",
      "s3://bkt/p?endpont=http://x",
      "s3://bkt/p?endpoint=ftp://x",
      "s3://bkt/p?forcePathStyle=yes",
      "s3://bkt/p?region=us east",
    ]) {
      expect(codeOf(() => parseS3Url(url)), url).toBe("INVALID_URL");
    }
    expect(() => parseS3Url(7 as unknown as string)).toThrow(TypeError);
  });
});

/** An error shaped like the SDK's S3ServiceException. */
function sdkError(name: string, status: number | undefined, message = "boom"): Error {
  const err = new Error(message) as Error & { Code?: string; $metadata?: object; $fault?: string };
  err.name = name;
  err.Code = name;
  if (status !== undefined) err.$metadata = { httpStatusCode: status };
  return err;
}

describe("S3 error mapping", () => {
  const map = (err: unknown): HearthError => s3Failure(err, "cannot read head/x from s3://bkt/p", "bkt");

  it("refused credentials are UNAUTHORIZED", () => {
    for (const name of ["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"]) {
      expect(map(sdkError(name, 403)).code, name).toBe("UNAUTHORIZED");
    }
    expect(map(sdkError("Unknown", 403)).code).toBe("UNAUTHORIZED");
    expect(map(sdkError("Unknown", 401)).code).toBe("UNAUTHORIZED");
    expect(map(sdkError("CredentialsProviderError", undefined, "Could not load credentials from any providers")).code).toBe("UNAUTHORIZED");
  });

  it("a missing bucket is STORAGE_FAILED naming the bucket", () => {
    const err = map(sdkError("NoSuchBucket", 404));
    expect(err.code).toBe("STORAGE_FAILED");
    expect(err.message).toContain('"bkt"');
    expect(isMissingKey(sdkError("NoSuchBucket", 404))).toBe(false);
  });

  it("network failures, 5xx and throttling are STORAGE_FAILED", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
    for (const err of [refused, sdkError("InternalError", 500), sdkError("ServiceUnavailable", 503), sdkError("SlowDown", 503), sdkError("TooManyRequests", 429), sdkError("TimeoutError", undefined), "a string"]) {
      const mapped = map(err);
      expect(mapped.code).toBe("STORAGE_FAILED");
      expect(mapped.cause).toBe(err);
    }
  });

  it("a missing key is recognised, and a HearthError passes through", () => {
    expect(isMissingKey(sdkError("NoSuchKey", 404))).toBe(true);
    expect(isMissingKey(sdkError("NotFound", 404))).toBe(true);
    expect(isMissingKey(sdkError("AccessDenied", 403))).toBe(false);
    const own = new HearthError("INVALID_ARGUMENT", "bad name");
    expect(map(own)).toBe(own);
  });
});
