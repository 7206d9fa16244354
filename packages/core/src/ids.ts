/**
 * Document ids generated when a document has no `_id`: ULID-shaped
 * (26 Crockford base32 characters: 48-bit millisecond time, 80 random bits),
 * so ids sort by creation time and `allDocs` lists new documents last.
 * Within one millisecond the random part is incremented, so ids from one
 * process are strictly increasing even when many are made per millisecond.
 *
 * @module
 */

import { toBase32 } from "./crypto/encoding.js";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

let lastTime = -1;
const lastRandom = new Uint8Array(10);

/** A fresh, time-ordered, globally unique document id. */
export function newDocId(now: number = Date.now()): string {
  if (now <= lastTime) {
    incrementRandom();
  } else {
    lastTime = now;
    globalThis.crypto.getRandomValues(lastRandom);
  }
  return encodeTime(lastTime) + toBase32(lastRandom, ALPHABET);
}

function incrementRandom(): void {
  for (let i = lastRandom.length - 1; i >= 0; i--) {
    if (lastRandom[i] !== 0xff) {
      lastRandom[i]!++;
      return;
    }
    lastRandom[i] = 0;
  }
  // 80 bits overflowed within one millisecond: borrow the next millisecond.
  lastTime++;
}

function encodeTime(time: number): string {
  let out = "";
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[time % 32]! + out;
    time = Math.floor(time / 32);
  }
  return out;
}

