/**
 * `@hearth/use-fireproof`: what app code imports from `use-fireproof`, on
 * Hearth. Alias the package (`"use-fireproof": "npm:@hearth/use-fireproof"`)
 * and the app runs on Hearth unchanged. Everything `@hearth/fireproof`
 * exports is here too (use-fireproof re-exports Fireproof's core).
 *
 * @module
 */
export * from "@hearth/fireproof";
export {
  useFireproof,
  type UseFPConfig,
  type UseFireproof,
  type AttachState,
  type LiveQueryResult,
  type AllDocsResult,
  type ChangesResult,
  type UseDocumentResult,
  type UseDocumentResultObject,
  type UseDocumentResultTuple,
  type UpdateDocFn,
} from "./use-fireproof.js";
export { ImgFile, type ImgFileProps, type ImgFileSource } from "./img-file.js";
export { ImgFile as default } from "./img-file.js";
