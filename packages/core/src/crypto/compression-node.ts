/**
 * Node's zlib deflate-raw for {@link Compression}: synchronous, ~10 µs for
 * a few KiB. Node-only.
 *
 * @module
 */
import { deflateRawSync, inflateRawSync, constants } from "node:zlib";
import type { Compression } from "./compression.js";

/** Node's zlib, at a fast level: values are small and written often. */
export const nodeCompression: Compression = {
  deflate: (bytes) => deflateRawSync(bytes, { level: constants.Z_BEST_SPEED }),
  inflate: (bytes) => inflateRawSync(bytes),
};
