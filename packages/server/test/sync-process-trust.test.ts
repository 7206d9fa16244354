/**
 * Trust across processes through a real sync server: roles, removal,
 * rotation after removal, a share code replayed by the point, and a point
 * rolling its membership log back (core's `helpers/process-trust-suite.ts`).
 * `hearth serve` runs as its own process (the bundled CLI) on a filesystem
 * data directory; each test mints a read-write token for a ledger of its
 * own; every replica is a separate Node process with its own store and
 * keyring directory. The test acts as the point's operator through the
 * server's HTTP API with that token, as any holder of a read-write token
 * could (it is given no more than ciphertext and signed entries).
 */
import { openHttpRemote } from "@hearth/core";
import { describeTrustAcrossProcesses } from "../../core/test/helpers/process-trust-suite.js";
import { useServeWithReplicas } from "./helpers/serve-replicas.js";

const serve = useServeWithReplicas("sync-process-trust", "trust");

describeTrustAcrossProcesses("sync trust across processes, through hearth serve (separate keyrings)", {
  point: () => serve.point(),
  start: (dir, name) => serve.start(dir, name),
  raw: (url) => openHttpRemote(url),
});
