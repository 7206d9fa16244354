/** Waiting on a promise with a deadline: the core tests' helper, shared so both suites time out alike. */
export { withDeadline } from "../../../core/test/helpers/eventually.js";
