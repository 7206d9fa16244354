// Runs s3rver in its own process for the tests (see s3rver.ts): started with
// --openssl-legacy-provider, because s3rver encrypts ListObjectsV2
// continuation tokens with DES, which OpenSSL 3 only has in its legacy
// provider. Prints {"port":N} once listening; exits when stdin closes (the
// test process ended, however it ended).
import S3rver from "s3rver";

const [directory] = process.argv.slice(2);
const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory });
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);
process.stdin.resume();
process.stdin.on("end", () => {
  server.close().finally(() => process.exit(0));
});
