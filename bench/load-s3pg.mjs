// The S3 + PostgreSQL backend for the load test (LOAD_BACKEND=s3pg): an
// s3rver child on a free loopback port with one bucket (the same child the
// s3 package's tests run, for the same reason: --openssl-legacy-provider),
// and a fresh schema in this machine's PostgreSQL (HEARTH_TEST_POSTGRES,
// default postgres://postgres@127.0.0.1:5432/test), dropped at the end.
// `serveArgs` is what `hearth serve` and `hearth token` take to use it;
// `env` carries s3rver's credentials through the standard AWS variables.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import pg from "pg";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const S3RVER_CHILD = path.join(ROOT, "packages/s3/test/helpers/s3rver-child.mjs");
const CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
const BUCKET = "hearth-load";

/** @returns {Promise<{ serveArgs: string[], env: Record<string, string>, describe: string, stop(): Promise<void> }>} */
export async function startS3Pg() {
  const postgres = process.env.HEARTH_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test";
  const directory = mkdtempSync(path.join(tmpdir(), "hearth-load-s3rver-"));
  const child = spawn(process.execPath, ["--openssl-legacy-provider", S3RVER_CHILD, directory], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const port = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error("s3rver did not start within 20 s")), 20_000);
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      out += chunk;
      if (!out.includes("\n")) return;
      clearTimeout(timer);
      resolve(JSON.parse(out.split("\n")[0]).port);
    });
    child.once("exit", (code) => reject(new Error(`s3rver exited with ${code} before listening`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const admin = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials: CREDENTIALS });
  await admin.send(new CreateBucketCommand({ Bucket: BUCKET }));
  admin.destroy();
  const schema = `load_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const pool = new pg.Pool({ connectionString: postgres, max: 1 });
  return {
    serveArgs: ["--s3", `s3://${BUCKET}/deploy?endpoint=${endpoint}&region=us-east-1&forcePathStyle=true`, "--postgres", postgres, "--schema", schema],
    env: { AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey },
    describe: `S3 (s3rver) + PostgreSQL (schema ${schema})`,
    async stop() {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
      await pool.end();
      child.stdin.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
