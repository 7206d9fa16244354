/**
 * An S3-compatible server (s3rver) for tests, in a child process bound to
 * 127.0.0.1 on a free port, storing into a temp directory removed on stop.
 *
 * Why a child: s3rver encrypts ListObjectsV2 continuation tokens with DES,
 * which Node's OpenSSL 3 refuses unless started with
 * `--openssl-legacy-provider` (in process, every paged listing fails with
 * a 500); and its synchronous directory walks then block its own event
 * loop, not the test's.
 *
 * s3rver checks the access key id of signed requests (its one account is
 * `S3RVER`) but not SigV4 signatures: a wrong secret goes unnoticed.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";

/** The only credentials s3rver knows. */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

/** A running s3rver. */
export interface TestS3 {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** `s3://<bucket>/<prefix>?endpoint=…&region=us-east-1&forcePathStyle=true` */
  url(bucket: string, prefix?: string): string;
  /** Creates a bucket. */
  createBucket(bucket: string): Promise<void>;
  stop(): Promise<void>;
}

const CHILD = fileURLToPath(new URL("./s3rver-child.mjs", import.meta.url));
const START_TIMEOUT_MS = 20_000;

/** Starts s3rver and creates `buckets`. */
export async function startS3(buckets: readonly string[] = []): Promise<TestS3> {
  const directory = await mkdtemp(join(tmpdir(), "hearth-s3rver-"));
  const child = spawn(process.execPath, ["--openssl-legacy-provider", CHILD, directory], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      const line = out.split("\n")[0];
      if (out.includes("\n") && line) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with ${code} before listening`));
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const admin = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
  const s3: TestS3 = {
    endpoint,
    url: (bucket, prefix = "") => `s3://${bucket}${prefix ? `/${prefix}` : ""}?endpoint=${endpoint}&region=us-east-1&forcePathStyle=true`,
    createBucket: async (bucket) => {
      await admin.send(new CreateBucketCommand({ Bucket: bucket }));
    },
    stop: async () => {
      admin.destroy();
      child.stdin.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
      await rm(directory, { recursive: true, force: true });
    },
  };
  for (const bucket of buckets) await s3.createBucket(bucket);
  return s3;
}
