/**
 * The ledger's local event log: event `n` (1, 2, 3, … in the order this
 * replica applied them) by number, wherever it is stored.
 *
 * A commit stores its event alone, as `ev/<n>`: one small record, the
 * cheapest durable write. A checkpoint then packs every complete run of
 * {@link SEGMENT_EVENTS} events (aligned: events `k·S + 1 … (k+1)·S`) into
 * one segment `sg/<k·S + 1>` ({@link ./event-segment}) and deletes their
 * `ev/<n>` records, in the same atomic batch as the checkpoint record, which
 * says how far events are packed. So event `n` is in a segment if
 * `n ≤ packed`, and under `ev/<n>` otherwise; at most S - 1 checkpointed
 * events stay unpacked.
 *
 * Events of {@link APART_BYTES} or more are not packed: their segment
 * marks them as stored apart and their `ev/<n>` records stay (see
 * `event-segment.ts` for why). Measured, a million documents loaded with
 * random ids in `bulk`s of 1,000 (Node, file store, the load alone, two
 * alternating pairs): peak RSS 478 / 486 → 455 / 448 MB, the most
 * `ArrayBuffer` memory at any sample 202 / 205 → 165 / 165 MB.
 *
 * Events written since the last pack are also kept in memory (up to
 * {@link RECENT_BYTES_MAX}; of one stored apart, only its CID), so packing
 * does not read them back and the sync engine's push of fresh events does
 * not touch the store. They are copied
 * into shared slabs with their CIDs' bytes: an ArrayBuffer or CID object
 * kept alive per event made every young-generation garbage collection pay
 * for all of them, which measurably slowed a run of small `put`s.
 *
 * @module
 */
import { CID } from "multiformats/cid";
import { HearthError } from "../errors.js";
import type { ByteStore } from "../store/types.js";
import { decodeSegment, encodeSegment, eventCid, type DecodedSegment } from "./event-segment.js";
import { eventKey, segmentKey } from "./keys.js";

/**
 * Events per segment. Part of the store format (segments are found by
 * number): 128 small events make ~20 KiB of plaintext, which deflate
 * compresses almost as well as 512 while a random read decodes little.
 */
export const SEGMENT_EVENTS = 128;

/** Bytes of unpacked events kept in memory; beyond this, packing reads them back from the store. */
const RECENT_BYTES_MAX = 16 * 1024 * 1024;

/**
 * Events this big or bigger are stored apart, never packed (see the module
 * docs): alone they compress about as well, and their envelope is a small
 * part of them. A segment's plaintext then stays under ~1 MiB.
 */
export const APART_BYTES = 8 * 1024;

/** Size of the slabs recent events are copied into; bigger events get their own copy. */
const SLAB_BYTES = 256 * 1024;

/** Bytes of an event's CID (v1, dag-cbor, sha-256). */
const CID_BYTES = 36;

/** What is kept of an event stored apart besides its CID. */
const NOTHING = new Uint8Array(0);

/** An event as a segment takes it: its CID's bytes and its own, or neither for one stored apart. */
interface PackedEvent {
  readonly cid: Uint8Array | undefined;
  readonly bytes: Uint8Array | undefined;
}

/** How a segment takes an event stored apart. */
const STORED_APART: PackedEvent = { cid: undefined, bytes: undefined };

/** Decoded segments kept for reads (the sync engine reads runs of up to 2,000 events). */
const SEGMENT_CACHE = 4;

/** One event read from the log. */
export interface LogEntry {
  readonly position: number;
  readonly cid: CID;
  readonly bytes: Uint8Array;
}

/** What a checkpoint adds to its batch to pack events ({@link EventLog.planPack}). */
export interface PackPlan {
  readonly put: Array<readonly [string, Uint8Array]>;
  readonly del: string[];
  /** Events packed once the batch is written. */
  readonly packed: number;
}

/** See the module docs. */
export class EventLog {
  readonly #store: ByteStore;
  readonly #where: string;
  #packed: number;
  /** A pack being written: readers that miss `ev/<n>` meanwhile wait for it. */
  #packing: Promise<unknown> | undefined;
  /** Number of the first event in {@link #recent}; they are consecutive. */
  #recentFirst = 1;
  /**
   * Recent events, each its CID's {@link CID_BYTES} bytes then its own, one
   * view of a shared slab; an event stored apart is its CID's bytes alone.
   */
  #recent: Uint8Array[] = [];
  #recentBytes = 0;
  #slab = new Uint8Array(0);
  #slabUsed = 0;
  /** First event of a segment → its decoded events; a few, most recently used last. */
  readonly #segments = new Map<number, Promise<DecodedSegment>>();

  /**
   * @param store - the ledger's (encrypting) store
   * @param packed - events packed into segments, from the checkpoint (0 for none)
   * @param where - names the ledger in messages
   */
  constructor(store: ByteStore, packed: number, where: string) {
    if (!Number.isSafeInteger(packed) || packed < 0 || packed % SEGMENT_EVENTS !== 0) {
      throw new HearthError("INTEGRITY", `${where}: its checkpoint says ${String(packed)} events are packed, which is not a whole number of segments; the store is damaged`);
    }
    this.#store = store;
    this.#packed = packed;
    this.#where = where;
  }

  /** Events stored in segments (the rest are under `ev/<n>`). */
  get packed(): number {
    return this.#packed;
  }

  /** The store puts that persist `events` as numbers `first`, `first + 1`, …. */
  puts(first: number, events: ReadonlyArray<{ readonly bytes: Uint8Array }>): Array<readonly [string, Uint8Array]> {
    return events.map((event, i) => [eventKey(first + i), event.bytes] as const);
  }

  /**
   * Keeps events just made durable by {@link puts} in memory until they are
   * packed: only while they continue the run already kept, and up to the cap.
   * Numbers kept already are replaced (a commit that failed after its write
   * leaves its numbers to the next one).
   */
  remember(first: number, events: ReadonlyArray<{ readonly bytes: Uint8Array; readonly cid: CID }>): void {
    if (this.#recent.length === 0) this.#recentFirst = first;
    const at = first - this.#recentFirst;
    if (at < 0 || at > this.#recent.length) return;
    for (const r of this.#recent.splice(at)) this.#recentBytes -= r.length - CID_BYTES;
    for (const { bytes, cid } of events) {
      // Every event CID is CIDv1/dag-cbor/sha-256 (readEvent refuses others); anything else is read from the store.
      if (cid.bytes.length !== CID_BYTES) return;
      const kept = bytes.length >= APART_BYTES ? NOTHING : bytes;
      if (this.#recentBytes + kept.length > RECENT_BYTES_MAX) return;
      this.#recent.push(this.#copy(cid.bytes, kept));
      this.#recentBytes += kept.length;
    }
  }

  /** `cid` and `bytes` copied together into the current slab (never written again). */
  #copy(cid: Uint8Array, bytes: Uint8Array): Uint8Array {
    const length = cid.length + bytes.length;
    let copy: Uint8Array;
    if (length > SLAB_BYTES / 64) {
      copy = new Uint8Array(length);
    } else {
      if (this.#slabUsed + length > this.#slab.length) {
        this.#slab = new Uint8Array(SLAB_BYTES);
        this.#slabUsed = 0;
      }
      copy = this.#slab.subarray(this.#slabUsed, this.#slabUsed + length);
      this.#slabUsed += length;
    }
    copy.set(cid, 0);
    copy.set(bytes, cid.length);
    return copy;
  }

  /**
   * Event `n` (its bytes the caller's own copy), or undefined if it is not in the store.
   * @throws HearthError `INTEGRITY` if its segment says it is stored apart and it is not
   */
  async read(n: number): Promise<LogEntry | undefined> {
    const recent = this.#recent[n - this.#recentFirst];
    if (recent && recent.length > CID_BYTES) return { position: n, cid: CID.decode(recent.slice(0, CID_BYTES)), bytes: recent.slice(CID_BYTES) };
    // Stored apart (its `ev/<n>` stays whether or not it is packed yet), or not kept.
    if (recent || n > this.#packed) {
      const bytes = await this.#store.get(eventKey(n));
      if (bytes !== undefined) return { position: n, bytes, cid: await eventCid(bytes) };
      // Packed while we read? Then it is in a segment now.
      await this.#packing?.catch(() => undefined);
      if (n > this.#packed) return undefined;
    }
    const first = n - ((n - 1) % SEGMENT_EVENTS);
    const segment = await this.#segment(first);
    const i = n - first;
    if (i >= segment.bytes.length) return undefined;
    const bytes = segment.bytes[i];
    if (bytes !== undefined) return { position: n, bytes: bytes.slice(), cid: segment.cids[i]! };
    const apart = await this.#store.get(eventKey(n));
    if (apart === undefined) {
      throw new HearthError("INTEGRITY", `event ${n} of ${this.#where} is stored apart from its segment ${segmentKey(first)} but missing from its store; restore it from a replica or backup`);
    }
    return { position: n, bytes: apart, cid: await eventCid(apart) };
  }

  /**
   * Events `from … to`, in order.
   * @throws HearthError `INTEGRITY` if one is missing
   */
  async range(from: number, to: number): Promise<LogEntry[]> {
    // All reads start at once: store reads overlap, and reads of one
    // segment share its decoding (each asks for it before its first await).
    const positions = Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
    return Promise.all(positions.map((n) => this.#readPresent(n)));
  }

  /**
   * Event `n`, which must be in the store.
   * @throws HearthError `INTEGRITY` if it is missing
   */
  async #readPresent(n: number): Promise<LogEntry> {
    const entry = await this.read(n);
    if (!entry) throw new HearthError("INTEGRITY", `event ${n} of ${this.#where} is missing from its store; restore it from a replica or backup`);
    return entry;
  }

  /**
   * The segments to write for every complete run of events up to `events`
   * not packed yet, and the `ev/<n>` records they replace (not those of
   * events stored apart); undefined if there is none. The caller writes
   * them in its checkpoint batch through {@link pack}.
   */
  async planPack(events: number): Promise<PackPlan | undefined> {
    const packed = events - (events % SEGMENT_EVENTS);
    if (packed <= this.#packed) return undefined;
    const put: Array<readonly [string, Uint8Array]> = [];
    const del: string[] = [];
    for (let first = this.#packed + 1; first <= packed; first += SEGMENT_EVENTS) {
      const last = first + SEGMENT_EVENTS - 1;
      const run: PackedEvent[] = [];
      for (let n = first; n <= last; n++) run.push(await this.#toPack(n));
      put.push([segmentKey(first), await encodeSegment(run.map((e) => e.bytes), run.map((e) => e.cid))]);
      for (let n = first; n <= last; n++) if (run[n - first]!.bytes !== undefined) del.push(eventKey(n));
    }
    return { put, del, packed };
  }

  /**
   * Event `n` as its segment takes it: from memory if it was kept, else read
   * from the store (one at a time, so that only the small ones are held).
   * @throws HearthError `INTEGRITY` if it is missing
   */
  async #toPack(n: number): Promise<PackedEvent> {
    const recent = this.#recent[n - this.#recentFirst];
    if (recent) return recent.length > CID_BYTES ? { cid: recent.subarray(0, CID_BYTES), bytes: recent.subarray(CID_BYTES) } : STORED_APART;
    const entry = await this.#readPresent(n);
    return entry.bytes.length >= APART_BYTES ? STORED_APART : { cid: entry.cid.bytes, bytes: entry.bytes };
  }

  /**
   * Runs `write` (the checkpoint batch holding `plan`) and, once it is
   * durable, reads packed events from their segments.
   */
  async pack(plan: PackPlan, write: () => Promise<void>): Promise<void> {
    const writing = write();
    this.#packing = writing;
    try {
      await writing;
      this.#packed = plan.packed;
      const drop = Math.min(this.#recent.length, Math.max(0, plan.packed + 1 - this.#recentFirst));
      for (const r of this.#recent.splice(0, drop)) this.#recentBytes -= r.length - CID_BYTES;
      this.#recentFirst += drop;
    } finally {
      if (this.#packing === writing) this.#packing = undefined;
    }
  }

  #segment(first: number): Promise<DecodedSegment> {
    let segment = this.#segments.get(first);
    if (segment) {
      this.#segments.delete(first);
    } else {
      segment = this.#loadSegment(first);
      // A failed read is not remembered: the next one tries the store again.
      segment.catch(() => this.#segments.get(first) === segment && this.#segments.delete(first));
      if (this.#segments.size >= SEGMENT_CACHE) this.#segments.delete(this.#segments.keys().next().value!);
    }
    this.#segments.set(first, segment);
    return segment;
  }

  async #loadSegment(first: number): Promise<DecodedSegment> {
    const key = segmentKey(first);
    const bytes = await this.#store.get(key);
    if (bytes === undefined) {
      throw new HearthError("INTEGRITY", `event segment ${key} of ${this.#where} is missing from its store; restore it from a replica or backup`);
    }
    return decodeSegment(bytes, `event segment ${key} of ${this.#where}`);
  }
}
