/**
 * Parsing of store and keyring locations, in one place. A location is a URL
 * with one of three schemes:
 *
 * - `memory://<name>` — in this process only; same name, same data
 * - `file:///<absolute path>` — a directory (Node)
 * - `indexeddb://<name>` — an IndexedDB database (browsers)
 *
 * @module
 */
import { HearthError } from "./errors.js";

/** A parsed location. */
export type Location =
  | { readonly scheme: "memory"; readonly name: string }
  | { readonly scheme: "file"; readonly path: string }
  | { readonly scheme: "indexeddb"; readonly name: string };

/**
 * Parses a location URL.
 * @param what - what the URL is for, named in errors ("store", "keyring")
 * @throws HearthError `INVALID_URL` naming the accepted forms
 */
export function parseLocation(url: string, what: string): Location {
  if (typeof url !== "string") throw new TypeError(`${what} must be a URL string`);
  const match = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(url);
  const scheme = match?.[1]?.toLowerCase();
  const rest = match?.[2] ?? "";
  if (scheme === "memory" || scheme === "indexeddb") {
    if (rest.length === 0) throw new HearthError("INVALID_URL", `${what} URL ${JSON.stringify(url)} has no name; use "${scheme}://<name>"`);
    return { scheme, name: decodeURIComponent(rest) };
  }
  if (scheme === "file") {
    if (!rest.startsWith("/")) {
      throw new HearthError("INVALID_URL", `${what} URL ${JSON.stringify(url)} is not an absolute file URL; use "file:///absolute/dir"`);
    }
    let path = decodeURIComponent(rest);
    if (path.length > 1) path = path.replace(/\/+$/, "");
    // A store or sync point writes its own files into its directory: never into the root itself.
    if (path === "" || path === "/" || /^\/[a-z]:$/i.test(path)) {
      throw new HearthError(
        "INVALID_URL",
        `${what} URL ${JSON.stringify(url)} names the root of the file system; give it a directory of its own, e.g. "file:///home/me/hearth/${what === "remote" || what === "sync point" ? "sync" : "data"}"`,
      );
    }
    return { scheme: "file", path };
  }
  throw new HearthError(
    "INVALID_URL",
    `${what} URL ${JSON.stringify(url)} is not supported; use memory://<name>, file:///absolute/dir (Node) or indexeddb://<name> (browsers)`,
  );
}

/** Formats a location back into its URL (`parseLocation(formatLocation(l))` equals `l`). */
export function formatLocation(location: Location): string {
  switch (location.scheme) {
    case "memory":
    case "indexeddb":
      return `${location.scheme}://${encodeURIComponent(location.name)}`;
    case "file":
      return `file://${location.path.split("/").map(encodeURIComponent).join("/")}`;
  }
}
