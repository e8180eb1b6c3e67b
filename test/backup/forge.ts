/**
 * Forging backups with a known passphrase: inner archives of any shape
 * (empty, wrong names, `../` members, links), wrapped as authenticated
 * members of format 3 (gzip, `openssl enc`, HMAC-SHA512 as the R2/R3
 * writer did, with the openssl program) and format 4 (scrypt containers
 * bound to the backup-id and member name). Only the crypto layer is made
 * right: what a restore must refuse beyond it is up to the restore.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { ByteSource } from '../../lib/backup/byte-source.js';
import { chunkPassword, decryptBuffer, encryptBuffer } from '../../lib/backup/scrypt-container.js';
import { BLOCK, encodeHeader, padLength } from '../../lib/backup/tar-format.js';
import { TarReader } from '../../lib/backup/tar-reader.js';
import type { Member } from './backup-env.js';

export interface TarItem {
  name: string;
  /** '0' regular (default), '2' symlink, '1' hard link, '5' directory, '3' character device. */
  type?: string;
  data?: Buffer;
  linkname?: string;
}

/** A plain ustar archive of these entries, with its two end blocks. */
export function tarOf(items: TarItem[]): Buffer {
  const parts: Buffer[] = [];
  for (const it of items) {
    const data = it.data ?? Buffer.alloc(0);
    parts.push(encodeHeader({ name: it.name, mode: 0o644, size: data.length, mtime: 0, type: it.type ?? '0', linkname: it.linkname }), data, Buffer.alloc(padLength(data.length)));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

/** The regular members of a (gzip-compressed) tar archive. */
export async function untar(data: Buffer, gzip: boolean): Promise<Map<string, Buffer>> {
  const plain = gzip ? zlib.gunzipSync(data) : data;
  const r = new TarReader(new ByteSource((async function* () { yield plain; })()), { what: 'test archive' });
  const out = new Map<string, Buffer>();
  for (let e; (e = await r.next()); ) out.set(e.name, await r.readBody(64 * 1024 * 1024));
  return out;
}

function openssl(args: string[], input: Buffer): Buffer {
  const r = spawnSync('openssl', args, { input, maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr.toString()}`);
  return r.stdout;
}

/** Format 3: one file's whole stream (gzip, then `openssl enc` when encrypted), or its plaintext back. */
export const v3Encode = (inner: Buffer, pass: string | undefined): Buffer =>
  pass === undefined ? zlib.gzipSync(inner) : openssl(['enc', '-e', '-aes-256-cbc', '-md', 'MD5', '-pass', `pass:${pass}`], zlib.gzipSync(inner));
export const v3Decode = (data: Buffer, pass: string | undefined): Buffer =>
  zlib.gunzipSync(pass === undefined ? data : openssl(['enc', '-d', '-aes-256-cbc', '-md', 'MD5', '-pass', `pass:${pass}`], data));

/** Format 3: chunk `<base>.000` of a file and its `.hmac` partner (HMAC-SHA512 keyed with the passphrase, as `openssl dgst` prints it). */
export function v3File(base: string, inner: Buffer, hmacPass: string, encryptPass: string | undefined): Member[] {
  const data = v3Encode(inner, encryptPass);
  const mac = crypto.createHmac('sha512', hmacPass).update(data).digest('hex');
  return [
    { name: `${base}.000`, data },
    { name: `${base}.000.hmac`, data: Buffer.from(`SHA2-512(stdin)= ${mac}\n`) },
  ];
}

/** The members with the chunks of `base` (suffix after `base.` matching `suffix`) replaced by `by`, in their place. */
function replaceChunks(members: Member[], base: string, suffix: RegExp, by: Member[]): Member[] {
  const isChunk = (m: Member) => m.name.startsWith(`${base}.`) && suffix.test(m.name.slice(base.length + 1));
  const at = members.findIndex(isChunk);
  if (at < 0) throw new Error(`no ${base} in the archive`);
  const rest = members.filter((m) => !isChunk(m));
  rest.splice(at, 0, ...by);
  return rest;
}

/** Replace every chunk (and .hmac) of `base` in a format 3 archive by one chunk holding `inner`. */
export function v3Replace(members: Member[], base: string, inner: Buffer, hmacPass: string, encryptPass: string | undefined): Member[] {
  return replaceChunks(members, base, /^\d{3,}(\.hmac)?$/, v3File(base, inner, hmacPass, encryptPass));
}

/** Format 4: the backup-id an archive's header declares. */
export const backupId = (members: Member[]): string => /backup-id=(.*)/.exec((members[0] as Member).data.toString())?.[1] as string;

/** Format 4: a chunk member holding `plain` (already compressed as the header says), validly encrypted under its own name. */
export async function v4Chunk(id: string, name: string, plain: Buffer, pass: string): Promise<Member> {
  return { name, data: await encryptBuffer(chunkPassword(id, name.replace(/\.enc$/, ''), pass), plain, { logN: 10, r: 8, p: 1 }) };
}

/** Format 4: replace the whole file `base` (all its chunks) by one chunk of `inner` (gzip-compressed unless the backup is not). */
export async function v4Replace(members: Member[], base: string, inner: Buffer, pass: string, gzip = true): Promise<Member[]> {
  return replaceChunks(members, base, /^\d{3,}\.enc$/, [await v4Chunk(backupId(members), `${base}.000.enc`, gzip ? zlib.gzipSync(inner) : inner, pass)]);
}

/** Format 4: the text of the backup's qubes.xml. */
export async function v4QubesXml(members: Member[], pass: string, gzip = true): Promise<string> {
  const m = members.find((x) => x.name === 'qubes.xml.000.enc') as Member;
  const files = await untar(await decryptBuffer(chunkPassword(backupId(members), 'qubes.xml.000', pass), m.data), gzip);
  return (files.get('qubes.xml') as Buffer).toString('utf8');
}

/** Format 4: the archive with its qubes.xml replaced by `xml` (bytes as given). */
export async function v4WithQubesXml(members: Member[], pass: string, xml: Buffer | string, gzip = true): Promise<Member[]> {
  return v4Replace(members, 'qubes.xml', tarOf([{ name: 'qubes.xml', data: Buffer.from(xml) }]), pass, gzip);
}
