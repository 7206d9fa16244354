/**
 * `@hearth/fireproof`: what app code imports from `@fireproof/core`, on
 * Hearth. Alias the package (`"@fireproof/core": "npm:@hearth/fireproof"`)
 * and `fireproof(name)` gives a Hearth ledger with Fireproof's calls and
 * result shapes; `attach` takes Hearth sync point URLs.
 *
 * @module
 */
export { fireproof, isDatabase, Database, toFireproofDoc } from "./database.js";
export { NotFoundError, isNotFoundError } from "./errors.js";
export { queryOptions, allDocsOptions } from "./options.js";
export type * from "./types.js";
