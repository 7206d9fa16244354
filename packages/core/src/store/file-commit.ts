/**
 * The file store's commit record (`COMMIT`): how much of the current log
 * held acknowledged writes, kept outside the log so that a log that lost
 * acknowledged records can be told from one that merely ends after its
 * last record.
 *
 * Why it is needed: a log cut at a record boundary (a truncated copy, a
 * partial restore, a tool that "repaired" it) looks exactly like a shorter
 * log. Its CRCs cannot tell; only a length recorded elsewhere can. The
 * store rewrites this record after every commit, before acknowledging it,
 * and the open refuses (`INTEGRITY`) a log shorter than the record says,
 * or with damage before that point. A torn tail *past* the record (the
 * batch that was being written when the process died, never acknowledged)
 * is still cut off quietly.
 *
 * Two lengths, because "acknowledged" depends on durability:
 * - `ackedEnd`: every acknowledged record; in the page cache at least,
 *   which survives the death of the process but not of the machine.
 * - `durableEnd`: records known on stable storage (after `fdatasync`,
 *   written only after the sync returned, so it never runs ahead of the
 *   disk).
 * After a reboot (a different boot id) only `durableEnd` binds: a power
 * loss may legitimately take the page-cache tail with it, and its own
 * bytes of this record may have reached the disk before the log's did.
 *
 * The record is a lower bound, never an upper one: it may lag the log (the
 * process died between appending and updating it; the OS had not written
 * it out), which only weakens the check, never fails a good log. A record
 * that does not check out (torn by a power loss) is rebuilt from the log,
 * whose own CRCs still guard every record; one about an older generation
 * (a crash between publishing a compacted log and recording it) binds
 * nothing, since that log was made durable before it was published.
 *
 * ```
 * 48 bytes: magic "HCOMMIT1" | u32 crc32(bytes 12..48) | u32 generation
 *           | u64 ackedEnd | u64 durableEnd | 16 bytes boot id     (little endian)
 * ```
 *
 * Node-only.
 *
 * @module
 */
import * as fs from "node:fs";
import { uptime } from "node:os";
import { join } from "node:path";
import { crc32 } from "./file-crc.js";
import { writeAllSync } from "./file-io.js";

const COMMIT_NAME = "COMMIT";
const MAGIC = Buffer.from("HCOMMIT1", "latin1");
const RECORD_BYTES = 48;

/** What the commit record says about the log of one generation. */
export interface CommitState {
  /** The log generation the lengths are about. */
  readonly generation: number;
  /** End of the last acknowledged record, in this boot. */
  readonly ackedEnd: number;
  /** End of the last record known to be on stable storage. */
  readonly durableEnd: number;
  /** The boot the record was written in (hex). */
  readonly boot: string;
}

let bootIdentity: string | undefined;

/**
 * An identifier of the running boot of this machine. Linux names each boot
 * (`boot_id`; containers share the host's). Elsewhere it is the boot time,
 * rounded to ten seconds: a mismatch only means the weaker check applies.
 */
export function currentBoot(): string {
  if (bootIdentity === undefined) {
    try {
      bootIdentity = fs.readFileSync("/proc/sys/kernel/random/boot_id", "latin1").trim().replace(/-/g, "").toLowerCase();
      if (!/^[0-9a-f]{32}$/.test(bootIdentity)) throw new Error("unexpected boot_id");
    } catch {
      const bootedAt = Math.round((Date.now() / 1000 - uptime()) / 10);
      bootIdentity = `b0070000${bootedAt.toString(16).padStart(24, "0")}`.slice(0, 32);
    }
  }
  return bootIdentity;
}

/**
 * The length the log of `state.generation` must reach: everything
 * acknowledged in this boot, or, after a reboot, everything made durable.
 */
export function requiredLogEnd(state: CommitState): number {
  return state.boot === currentBoot() ? state.ackedEnd : state.durableEnd;
}

/** The open commit record of a store directory. */
export class CommitFile {
  private readonly buffer = Buffer.alloc(RECORD_BYTES);

  private constructor(
    readonly path: string,
    private readonly fd: number,
  ) {
    MAGIC.copy(this.buffer, 0);
  }

  /** True when `dir` has a commit record (of any content). */
  static exists(dir: string): boolean {
    return fs.existsSync(join(dir, COMMIT_NAME));
  }

  /**
   * Reads the record of `dir` without creating anything: `undefined` when
   * there is none (a new store, or one made before this record existed),
   * `"damaged"` when it does not check out.
   */
  static read(dir: string): CommitState | "damaged" | undefined {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(join(dir, COMMIT_NAME));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    return bytes.length === 0 ? undefined : decode(bytes);
  }

  /** Opens (creating) the record of `dir` for {@link write}. */
  static open(dir: string): CommitFile {
    const path = join(dir, COMMIT_NAME);
    return new CommitFile(path, fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600));
  }

  /** Rewrites the record in place (one small positioned write; no sync). */
  write(state: CommitState): void {
    const b = this.buffer;
    b.writeUInt32LE(state.generation, 12);
    writeU64(b, 16, state.ackedEnd);
    writeU64(b, 24, state.durableEnd);
    b.write(state.boot, 32, 16, "hex");
    b.writeUInt32LE(crc32(b, 12, RECORD_BYTES), 8);
    writeAllSync(this.fd, b, 0);
  }

  /** Makes the record durable (`fdatasync`). */
  sync(): Promise<void> {
    return new Promise((resolve, reject) => fs.fdatasync(this.fd, (err) => (err ? reject(err) : resolve())));
  }

  /** Closes the record's descriptor. Idempotent. */
  close(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}

function decode(bytes: Buffer): CommitState | "damaged" {
  if (bytes.length !== RECORD_BYTES || !bytes.subarray(0, 8).equals(MAGIC)) return "damaged";
  if (bytes.readUInt32LE(8) !== crc32(bytes, 12, RECORD_BYTES)) return "damaged";
  return {
    generation: bytes.readUInt32LE(12),
    ackedEnd: readU64(bytes, 16),
    durableEnd: readU64(bytes, 24),
    boot: bytes.toString("hex", 32, 48),
  };
}

function writeU64(b: Buffer, at: number, value: number): void {
  b.writeUInt32LE(value % 0x1_0000_0000, at);
  b.writeUInt32LE(Math.floor(value / 0x1_0000_0000), at + 4);
}

function readU64(b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 0x1_0000_0000;
}
