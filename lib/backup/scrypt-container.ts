// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The `scrypt` utility's file format (Tarsnap scrypt FORMAT), done with
 * Node's crypto so neither backup nor restore needs the program:
 *
 *   0   6  "scrypt"          16  32  salt
 *   6   1  version 0         48  16  SHA-256(bytes 0..47)[0..16]
 *   7   1  log2(N)           64  32  HMAC-SHA256(key_hmac, bytes 0..63)
 *   8   4  r (BE)            96   X  data XOR AES-256-CTR(key_enc, IV 0)
 *  12   4  p (BE)          96+X  32  HMAC-SHA256(key_hmac, bytes 0..95+X)
 *
 * key_enc ‖ key_hmac = scrypt(password, salt, N, r, p, 64). The key
 * derivation runs beside the main thread's streaming: in the run's key
 * derivation process (kdf-process.ts), else on libuv's thread pool, as
 * many at once as memory allows (kdf-memory.ts).
 *
 * Reference: Tarsnap/scrypt FORMAT and lib/scryptenc; spec backup.md §2.5.
 */
import crypto from 'node:crypto';
import { BackupError } from '../errors.js';
import { kdfBytes, kdfGate } from './kdf-memory.js';
import { scryptKey } from './kdf-process.js';

export const SCRYPT_HEADER = 96;
export const SCRYPT_OVERHEAD = 128;

/** KDF cost. N = 2^logN; memory 128·N·r bytes. */
export interface KdfParams {
  logN: number;
  r: number;
  p: number;
}

/**
 * What we write: N = 2^20, r = 8, p = 1 (1 GiB, ~3 s of one core here),
 * the parameters the `scrypt` utility itself picks on a typical dom0
 * (and picked for the reference vectors); decryptable on a 4 GiB machine.
 */
export const WRITE_PARAMS: KdfParams = { logN: 20, r: 8, p: 1 };

/** Refuse to derive with more memory than this unless forced: the KDF runs before anything is authenticated. */
export const DEFAULT_MAX_KDF_MEMORY = 2 * 1024 ** 3;

export interface ScryptKeys {
  params: KdfParams;
  salt: Buffer;
  encKey: Buffer;
  hmacKey: Buffer;
}

const kdfMemory = (p: KdfParams): number => 128 * 2 ** p.logN * p.r * p.p + 128 * p.r * p.p + 1024 * 1024;

/** Derive the keys of one container (in the run's key derivation process, kdf-process.ts), once the process's derivation gate lets it (kdf-memory.ts). */
export function deriveKeys(password: string | Buffer, salt: Buffer, params: KdfParams): Promise<ScryptKeys> {
  return kdfGate.run(kdfBytes(params), async () => {
    let key: Buffer;
    try {
      key = await scryptKey({ password, salt, N: 2 ** params.logN, r: params.r, p: params.p, maxmem: kdfMemory(params) });
    } catch (err) {
      throw new BackupError(`scrypt key derivation failed: ${(err as Error).message}`);
    }
    return { params, salt, encKey: key.subarray(0, 32), hmacKey: key.subarray(32, 64) };
  });
}

/** Fresh keys with a random salt, for writing. */
export const newKeys = (password: string, params: KdfParams = WRITE_PARAMS): Promise<ScryptKeys> =>
  deriveKeys(password, crypto.randomBytes(32), params);

function headerBytes(k: ScryptKeys): Buffer {
  const h = Buffer.alloc(SCRYPT_HEADER);
  h.write('scrypt', 0, 'ascii');
  h[6] = 0;
  h[7] = k.params.logN;
  h.writeUInt32BE(k.params.r, 8);
  h.writeUInt32BE(k.params.p, 12);
  k.salt.copy(h, 16);
  crypto.createHash('sha256').update(h.subarray(0, 48)).digest().copy(h, 48, 0, 16);
  crypto.createHmac('sha256', k.hmacKey).update(h.subarray(0, 64)).digest().copy(h, 64);
  return h;
}

/** Streaming encryption of one container: header(), update()*, final() (the trailing HMAC). */
export class ScryptEncryptor {
  private readonly cipher: crypto.Cipher;
  private readonly mac: crypto.Hmac;

  constructor(private readonly keys: ScryptKeys) {
    this.cipher = crypto.createCipheriv('aes-256-ctr', keys.encKey, Buffer.alloc(16));
    this.mac = crypto.createHmac('sha256', keys.hmacKey);
  }

  header(): Buffer {
    const h = headerBytes(this.keys);
    this.mac.update(h);
    return h;
  }

  update(plain: Buffer): Buffer {
    const c = this.cipher.update(plain);
    this.mac.update(c);
    return c;
  }

  final(): Buffer {
    return this.mac.digest();
  }
}

/** A whole container in memory (small files: header, qubes.xml). */
export async function encryptBuffer(password: string, data: Buffer, params: KdfParams = WRITE_PARAMS): Promise<Buffer> {
  const e = new ScryptEncryptor(await newKeys(password, params));
  return Buffer.concat([e.header(), e.update(data), e.final()]);
}

export const NOT_SCRYPT = 'Input is not valid scrypt-encrypted block';
export const BAD_PASSPHRASE = 'Passphrase is incorrect';

/** The KDF parameters of a container (`buf`: at least its first 64 bytes, of `total`), checked as the utility checks them (no key needed). */
export function containerParams(buf: Buffer, maxMemory = DEFAULT_MAX_KDF_MEMORY, total = buf.length): KdfParams {
  if (total < SCRYPT_OVERHEAD || buf.length < 64 || buf.subarray(0, 6).toString('latin1') !== 'scrypt' || buf[6] !== 0) throw new BackupError(NOT_SCRYPT);
  const params = { logN: buf[7] as number, r: buf.readUInt32BE(8), p: buf.readUInt32BE(12) };
  const check = crypto.createHash('sha256').update(buf.subarray(0, 48)).digest().subarray(0, 16);
  if (!check.equals(buf.subarray(48, 64))) throw new BackupError(NOT_SCRYPT);
  if (params.logN < 1 || params.logN > 63 || params.r < 1 || params.p < 1 || params.r * params.p >= 2 ** 30)
    throw new BackupError(NOT_SCRYPT);
  if (kdfMemory(params) > maxMemory)
    throw new BackupError(`scrypt parameters of this file need ${Math.ceil(kdfMemory(params) / 1024 ** 2)} MiB of memory, more than the allowed ${Math.floor(maxMemory / 1024 ** 2)} MiB`);
  return params;
}

/**
 * Authenticate and decrypt a whole container. Nothing is returned unless
 * both HMACs match, so unauthenticated bytes never reach a parser.
 * @throws BackupError "Passphrase is incorrect" (wrong password, or a chunk renamed/moved/from another backup)
 *   or "Input is not valid scrypt-encrypted block" (damaged, truncated)
 */
export async function decryptBuffer(password: string, buf: Buffer, maxMemory = DEFAULT_MAX_KDF_MEMORY): Promise<Buffer> {
  const params = containerParams(buf, maxMemory);
  const keys = await deriveKeys(password, Buffer.from(buf.subarray(16, 48)), params);
  return decryptWithKeys(keys, buf);
}

/** The synchronous half of decryptBuffer, for keys derived in advance. */
function decryptWithKeys(keys: ScryptKeys, buf: Buffer): Buffer {
  const headerMac = crypto.createHmac('sha256', keys.hmacKey).update(buf.subarray(0, 64)).digest();
  if (!crypto.timingSafeEqual(headerMac, buf.subarray(64, 96))) throw new BackupError(BAD_PASSPHRASE);
  const end = buf.length - 32;
  const mac = crypto.createHmac('sha256', keys.hmacKey).update(buf.subarray(0, end)).digest();
  if (!crypto.timingSafeEqual(mac, buf.subarray(end))) throw new BackupError(NOT_SCRYPT);
  return crypto.createDecipheriv('aes-256-ctr', keys.encKey, Buffer.alloc(16)).update(buf.subarray(SCRYPT_HEADER, end));
}

/** The password of a chunk: `<backup-id>!<member name without .enc>!<passphrase>` (spec §2.5). */
export const chunkPassword = (backupId: string, memberWithoutEnc: string, passphrase: string): string =>
  `${backupId}!${memberWithoutEnc}!${passphrase}`;

export const headerPassword = (passphrase: string): string => `backup-header!${passphrase}`;
