/**
 * Devices and entries for membership log tests: each device has its own
 * keyring (and so its own identity); entries are really signed.
 */
import { CID } from "multiformats/cid";
import { openMemoryKeyring } from "../../src/keyring/memory.js";
import { webCryptoSigner } from "../../src/crypto/signing.js";
import type { Fingerprint } from "../../src/keyring/types.js";
import { deviceOf, type DeviceFingerprint, type DevicePublic } from "../../src/trust/device.js";
import { signEntry, type Entry, type EntryOp, type KeyGrant } from "../../src/trust/entry.js";
import { MembershipLog, type GrantChecks } from "../../src/trust/log.js";

/** A test device: its public identity and a way to sign entries as it. */
export interface TestDevice {
  readonly name: string;
  readonly device: DevicePublic;
  readonly fp: DeviceFingerprint;
  sign(point: CID | undefined, parents: readonly CID[], op: EntryOp): Promise<Entry>;
}

/** A fresh device with its own memory keyring. */
export async function testDevice(name: string): Promise<TestDevice> {
  const keyring = await openMemoryKeyring();
  const identity = await keyring.identity();
  const device = deviceOf(identity);
  return {
    name,
    device,
    fp: device.fingerprint,
    sign: (point, parents, op) => signEntry({ ...(point && { point }), parents, op }, device, identity.signingKey, webCryptoSigner),
  };
}

/** Five fresh devices, each with its own keyring. */
export async function testDevices(): Promise<[TestDevice, TestDevice, TestDevice, TestDevice, TestDevice]> {
  return Promise.all(["a", "b", "c", "d", "e"].map(testDevice)) as Promise<[TestDevice, TestDevice, TestDevice, TestDevice, TestDevice]>;
}

/** A grant of key `key` (a made-up fingerprint) at `epoch`, "wrapped" for `to` (dummy records: the log never unwraps). */
export function grant(epoch: number, key: string, to: readonly TestDevice[]): KeyGrant {
  return {
    epoch,
    key: key.padEnd(32, "0") as Fingerprint,
    wraps: [...to].sort((a, b) => (a.fp < b.fp ? -1 : 1)).map((d) => ({ to: d.fp, record: new Uint8Array([1, 2, 3]) })),
  };
}

/**
 * Checks for tests: a redeem's proof is "valid" when its first byte is 1
 * (real proofs are checked by the sync layer); a grant carries the keys
 * its sealed bytes name as text.
 */
export const testChecks: GrantChecks = {
  proofValid: (redeem) => redeem.op.kind === "redeem" && redeem.op.proof[0] === 1,
  keysOf: (grant) => {
    const sealed = grant.op.kind === "code" || (grant.op.kind === "pass" && grant.op.role !== null) ? grant.op.sealed : undefined;
    return sealed ? (new TextDecoder().decode(sealed).split(",").filter(Boolean).map((k) => k.padEnd(32, "0")) as Fingerprint[]) : [];
  },
};

/** A proof the test checks accept (or not). */
export function proof(valid: boolean): Uint8Array {
  const bytes = new Uint8Array(64);
  bytes[0] = valid ? 1 : 0;
  return bytes;
}

/** A made-up data head (a CID that is no entry). */
export async function dataHead(label: string): Promise<CID> {
  const { sha256 } = await import("multiformats/hashes/sha2");
  return CID.createV1(0x71, await sha256.digest(new TextEncoder().encode(label)));
}

/** A log of `entries`, pinned to the first (founding) one. */
export function logOf(entries: readonly Entry[]): MembershipLog {
  const log = new MembershipLog(entries[0]!.cid, testChecks);
  log.add(entries);
  return log;
}
