/**
 * Trust across processes over a `file://` sync point: roles, removal,
 * rotation after removal, a share code replayed by the point, and a point
 * rolling its membership log back (`helpers/process-trust-suite.ts`). Every
 * replica is its own Node process with its own store and keyring directory;
 * the test acts as the point's operator by opening the shared directory
 * itself, as anyone with access to it could.
 */
import { openFileRemote } from "../src/remote/file.js";
import { useFileReplicas } from "./helpers/file-replicas.js";
import { describeTrustAcrossProcesses } from "./helpers/process-trust-suite.js";

const replicas = useFileReplicas("sync-process-trust");

describeTrustAcrossProcesses("sync trust across processes, over a file:// sync point (separate keyrings)", {
  point: async () => replicas.point(),
  start: (dir, name) => replicas.start(dir, name),
  raw: (url) => openFileRemote(url),
});
