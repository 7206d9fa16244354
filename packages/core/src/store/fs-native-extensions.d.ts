// Types for the part of `fs-native-extensions` (which ships none) that the
// file store uses: see ./file-lock.ts.
declare module "fs-native-extensions" {
  const nativeFs: {
    /** True when the lock was taken; false when another open file description holds a conflicting one. */
    tryLock(fd: number, offset?: number, length?: number, options?: { shared?: boolean }): boolean;
    /** Releases a lock taken on `fd`. */
    unlock(fd: number, offset?: number, length?: number): void;
  };
  export default nativeFs;
}
