/** The tests' deterministic PRNG: the one `@hearth/core/testing` ships. */
export { rng } from "../../src/testing/rng.js";
