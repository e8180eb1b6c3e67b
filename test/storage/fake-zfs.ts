/**
 * A simulated ZFS for the zfs driver's tests: datasets, zvols and snapshots
 * with the properties the driver reads, answering `zfs` and `zpool` with
 * the messages and `-H -p` output formats of OpenZFS 2.x (tab-separated
 * fields, numbers in bytes and seconds, `-` for a property that does not
 * apply), and keeping a device node `<devDir>/zvol/<name>` per zvol as
 * udev would. It checks what real ZFS checks on the way: parents exist
 * (unless -p), names are free, snapshots backing clones are not destroyed
 * (destroy -d defers it), rollback only to the newest snapshot (-r: later
 * ones go), promote moves the origin's older snapshots to the clone.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { CommandResult } from '../../lib/storage/command-runner.js';
import { SimulatedRunner } from './simulated-runner.js';

export interface FakeDataset {
  type: 'filesystem' | 'volume' | 'snapshot';
  /** Seconds (what `creation` shows). */
  creation: number;
  /** The transaction group it was made in: the order of things made in the same second. */
  txg: number;
  volsize?: number;
  readonly: boolean;
  dirty?: 'on' | 'off';
  deferDestroy: boolean;
  used: number;
  /** A clone's origin snapshot. */
  origin?: string;
  props: Record<string, string>;
}

const ok = (stdout = '', stderr = ''): CommandResult => ({ exitCode: 0, stdout, stderr });
const fail = (stderr: string, exitCode = 1): CommandResult => ({ exitCode, stdout: '', stderr: `${stderr}\n` });

export class FakeZfs extends SimulatedRunner {
  readonly sets = new Map<string, FakeDataset>();
  readonly zpools = new Map<string, { size: number; free: number }>();
  ddExit = 0;
  private taken = 0;
  private txg = 0;

  constructor(
    readonly devDir: string,
    readonly clock: { ms: number },
  ) {
    super();
  }

  /** A zpool whose root dataset exists. */
  zpool(name: string, size: number, free: number): void {
    this.zpools.set(name, { size, free });
    this.add(name, 'filesystem');
  }

  /** A dataset (its missing parents made as filesystems, as `zfs create -p` would). */
  add(name: string, type: FakeDataset['type'], more: Partial<FakeDataset> = {}): FakeDataset {
    const parent = path.posix.dirname(name.split('@')[0] as string);
    if (type !== 'snapshot' && name.includes('/') && !this.sets.has(parent)) this.add(parent, 'filesystem');
    const d: FakeDataset = { type, creation: Math.floor(this.clock.ms / 1000), txg: ++this.txg, readonly: false, deferDestroy: false, used: 0, props: {}, ...more };
    this.sets.set(name, d);
    if (type === 'volume') this.touch(name);
    return d;
  }

  dev(name: string): string {
    return path.join(this.devDir, 'zvol', name);
  }
  private touch(name: string): void {
    fs.mkdirSync(path.dirname(this.dev(name)), { recursive: true });
    fs.writeFileSync(this.dev(name), '');
  }
  private untouch(name: string): void {
    fs.rmSync(this.dev(name), { force: true });
  }

  protected act(argv: readonly string[]): CommandResult {
    const [cmd, ...args] = argv[0] === 'sudo' ? argv.slice(1) : argv;
    if (cmd === 'zfs') return this.zfs(args);
    if (cmd === 'zpool') return this.zpoolCmd(args);
    if (cmd === 'ionice') return this.ddExit ? fail('dd: error writing: No space left on device', this.ddExit) : ok();
    return fail(`${cmd}: command not found`, 127);
  }

  private zpoolCmd(args: string[]): CommandResult {
    const [sub, h, o, prop, name] = args;
    if (sub !== 'list' || h !== '-Hp' || o !== '-o') return fail(`unrecognized command '${args.join(' ')}'`, 2);
    const p = this.zpools.get(name ?? '');
    if (!p) return fail(`cannot open '${name}': no such pool`);
    if (prop === 'size') return ok(`${p.size}\n`);
    if (prop === 'free') return ok(`${p.free}\n`);
    return fail(`bad property list: invalid property '${prop}'`, 2);
  }

  /** A dataset and everything below it, with the snapshots of each (names). */
  private subtree(name: string): string[] {
    return [...this.sets.keys()].filter((n) => n === name || n.startsWith(`${name}/`) || n.startsWith(`${name}@`));
  }

  private clonesOf(snap: string): string[] {
    return [...this.sets].filter(([, d]) => d.origin === snap).map(([n]) => n);
  }

  private parentOk(name: string, p: boolean): CommandResult | undefined {
    const parent = path.posix.dirname(name);
    if (this.sets.has(parent)) return undefined;
    if (!p) return fail(`cannot create '${name}': parent does not exist`);
    if (!this.zpools.has(name.split('/')[0] as string)) return fail(`cannot create '${name}': no such pool '${name.split('/')[0]}'`);
    this.parentOk(parent, true);
    this.add(parent, 'filesystem');
    return undefined;
  }

  private options(args: string[]): { opts: Record<string, string>; rest: string[] } {
    const opts: Record<string, string> = {};
    const rest: string[] = [];
    for (let i = 0; i < args.length; i++) {
      if (args[i] === '-o') {
        const [k, v] = (args[++i] as string).split('=') as [string, string];
        opts[k] = v;
      } else rest.push(args[i] as string);
    }
    return { opts, rest };
  }

  /** zfs list -H -p output of one row. */
  private cell(name: string, d: FakeDataset, col: string): string {
    switch (col) {
      case 'name':
        return name;
      case 'type':
        return d.type;
      case 'creation':
        return String(d.creation);
      case 'volsize':
        return d.volsize === undefined ? '-' : String(d.volsize);
      case 'readonly':
        return d.type === 'snapshot' ? '-' : d.readonly ? 'on' : 'off';
      case 'org.qubes:dirty':
        return d.type === 'snapshot' ? '-' : (d.dirty ?? '-');
      case 'defer_destroy':
        return d.type === 'snapshot' ? (d.deferDestroy ? 'on' : 'off') : '-';
      case 'logicalreferenced':
        return String(d.used);
      case 'clones':
        return d.type === 'snapshot' ? this.clonesOf(name).join(',') : '-';
      default:
        return d.props[col] ?? '-';
    }
  }

  /** `zfs list -r` order: a dataset, its snapshots oldest first, then its children by name. */
  private listOrder(root: string): string[] {
    const out: string[] = [];
    const visit = (n: string) => {
      out.push(n);
      const snaps = [...this.sets].filter(([k]) => k.startsWith(`${n}@`)).sort(([, a], [, b]) => a.txg - b.txg);
      out.push(...snaps.map(([k]) => k));
      const kids = [...this.sets.keys()].filter((k) => !k.includes('@') && path.posix.dirname(k) === n && k !== n).sort();
      kids.forEach(visit);
    };
    visit(root);
    return out;
  }

  private list(args: string[]): CommandResult {
    let recursive = false;
    let types = ['filesystem', 'volume'];
    let cols: string[] = ['name'];
    let target = '';
    for (let i = 0; i < args.length; i++) {
      const a = args[i] as string;
      if (a === '-r') recursive = true;
      else if (a === '-H' || a === '-Hp' || a === '-p') continue;
      else if (a === '-t') types = (args[++i] as string).split(',');
      else if (a === '-o') cols = (args[++i] as string).split(',');
      else target = a;
    }
    const d = this.sets.get(target);
    if (!d) return fail(`cannot open '${target}': dataset does not exist`);
    const names = recursive ? this.listOrder(target) : [target];
    const rows = names
      .filter((n) => n === target || types.includes(this.sets.get(n)!.type))
      .map((n) => cols.map((c) => this.cell(n, this.sets.get(n)!, c)).join('\t'));
    return ok(rows.map((r) => `${r}\n`).join(''));
  }

  private destroy(args: string[]): CommandResult {
    const defer = args.includes('-d');
    const name = args.at(-1) as string;
    const d = this.sets.get(name);
    if (!d) return fail(`could not find any snapshots to destroy; check snapshot names.`);
    if (d.type === 'snapshot') {
      if (this.clonesOf(name).length) {
        if (!defer) return fail(`cannot destroy '${name}': snapshot has dependent clones\nuse '-R' to destroy the following datasets:\n${this.clonesOf(name).join('\n')}`);
        d.deferDestroy = true;
        return ok();
      }
      this.sets.delete(name);
      return ok();
    }
    const doomed = this.subtree(name);
    const dependents = doomed.filter((n) => this.sets.get(n)!.type === 'snapshot').flatMap((s) => this.clonesOf(s)).filter((c) => !doomed.includes(c));
    if (dependents.length) return fail(`cannot destroy '${name}': filesystem has dependent clones\nuse '-R' to destroy the following datasets:\n${dependents.join('\n')}`);
    for (const n of doomed) {
      const { origin, type } = this.sets.get(n)!;
      this.sets.delete(n);
      if (type === 'volume') this.untouch(n);
      // a snapshot whose destruction was deferred goes with its last clone
      if (origin && this.sets.get(origin)?.deferDestroy && this.clonesOf(origin).length === 0) this.sets.delete(origin);
    }
    return ok();
  }

  private rename(args: string[]): CommandResult {
    const p = args.includes('-p');
    const [from, to] = args.filter((a) => a !== '-p') as [string, string];
    if (!this.sets.has(from)) return fail(`cannot open '${from}': dataset does not exist`);
    if (this.sets.has(to)) return fail(`cannot rename to '${to}': dataset already exists`);
    const bad = this.parentOk(to, p);
    if (bad) return bad;
    for (const n of this.subtree(from)) {
      const d = this.sets.get(n)!;
      const m = to + n.slice(from.length);
      this.sets.delete(n);
      this.sets.set(m, d);
      if (d.type === 'volume') {
        this.untouch(n);
        this.touch(m);
      }
      for (const other of this.sets.values()) if (other.origin === n) other.origin = m;
    }
    return ok();
  }

  private promote(name: string): CommandResult {
    const d = this.sets.get(name);
    if (!d?.origin) return fail(`cannot promote '${name}': not a cloned filesystem`);
    const origin = d.origin;
    const [originVol] = origin.split('@') as [string];
    const cut = this.sets.get(origin)!.txg;
    // the origin snapshot and the older ones move to the clone
    for (const [n, s] of [...this.sets]) {
      if (!n.startsWith(`${originVol}@`) || s.txg > cut) continue;
      const m = `${name}@${n.split('@')[1]}`;
      this.sets.delete(n);
      this.sets.set(m, s);
      for (const other of this.sets.values()) if (other.origin === n) other.origin = m;
    }
    this.sets.get(originVol)!.origin = `${name}@${origin.split('@')[1]}`;
    delete d.origin;
    return ok();
  }

  private zfs(args: string[]): CommandResult {
    const [sub, ...rest] = args;
    switch (sub) {
      case 'list':
        return this.list(rest);
      case 'create': {
        const { opts, rest: pos } = this.options(rest);
        const p = pos.includes('-p');
        const vi = pos.indexOf('-V');
        const name = pos.at(-1) as string;
        if (this.sets.has(name)) return fail(`cannot create '${name}': dataset already exists`);
        const bad = this.parentOk(name, p);
        if (bad) return bad;
        if (vi < 0) {
          this.add(name, 'filesystem', { props: opts });
          return ok();
        }
        this.add(name, 'volume', { volsize: Number(pos[vi + 1]), props: opts });
        return ok();
      }
      case 'clone': {
        const { opts, rest: pos } = this.options(rest);
        const [snap, name] = pos.filter((a) => a !== '-p') as [string, string];
        const s = this.sets.get(snap);
        if (!s || s.type !== 'snapshot') return fail(`cannot open '${snap}': dataset does not exist`);
        if (this.sets.has(name)) return fail(`cannot create '${name}': dataset already exists`);
        const bad = this.parentOk(name, pos.includes('-p'));
        if (bad) return bad;
        this.add(name, 'volume', { volsize: s.volsize, origin: snap, used: s.used, props: opts });
        return ok();
      }
      case 'snapshot': {
        const name = rest[0] as string;
        const [vol] = name.split('@') as [string];
        const v = this.sets.get(vol);
        if (!v) return fail(`cannot open '${vol}': dataset does not exist\nusage:\n\tsnapshot [-r] [-o property=value] ... <filesystem|volume>@<snap> ...`);
        if (this.sets.has(name)) return fail(`cannot create snapshot '${name}': dataset already exists`);
        this.add(name, 'snapshot', { volsize: v.volsize, used: v.used });
        return ok();
      }
      case 'destroy':
        return this.destroy(rest);
      case 'rename':
        return this.rename(rest);
      case 'promote':
        return this.promote(rest[0] as string);
      case 'set': {
        const name = rest.at(-1) as string;
        const d = this.sets.get(name);
        if (!d) return fail(`cannot open '${name}': dataset does not exist`);
        for (const kv of rest.slice(0, -1)) {
          const [k, v] = kv.split('=') as [string, string];
          if (k === 'readonly') d.readonly = v === 'on';
          else if (k === 'org.qubes:dirty') d.dirty = v as 'on' | 'off';
          else if (k === 'volsize') d.volsize = Number(v);
          else d.props[k] = v;
        }
        return ok();
      }
      case 'rollback': {
        const snap = rest.at(-1) as string;
        const s = this.sets.get(snap);
        if (!s) return fail(`cannot open '${snap}': dataset does not exist`);
        const [vol] = snap.split('@') as [string];
        const later = [...this.sets].filter(([n, d]) => n.startsWith(`${vol}@`) && d.txg > s.txg);
        if (later.length && !rest.includes('-r'))
          return fail(`cannot rollback to '${snap}': more recent snapshots or bookmarks exist\nuse '-r' to force deletion of the following snapshots and bookmarks:\n${later.map(([n]) => n).join('\n')}`);
        for (const [n] of later) this.sets.delete(n);
        return ok();
      }
      default:
        return fail(`unrecognized command '${sub}'`, 2);
    }
  }

  /** Is `argv` the driver's report of `container`? */
  static isReport(argv: readonly string[]): boolean {
    const a = argv[0] === 'sudo' ? argv.slice(1) : argv;
    return a[0] === 'zfs' && a[1] === 'list' && a[3] === '-r';
  }

  /**
   * The commands since the last take(), without report reloads, as lines
   * with the device directory shown as /dev and random names as XXXXXXXX.
   * Checks on the way that every change was followed by a reload and that
   * zfs ran with LC_ALL=C.UTF-8.
   */
  take(concurrent = false): string[] {
    const calls = this.calls.slice(this.taken);
    this.taken = this.calls.length;
    calls.forEach((c, i) => {
      const prog = c.argv[0] === 'sudo' ? c.argv[1] : c.argv[0];
      if (prog === 'zfs' || prog === 'zpool') expect(c.env).toEqual({ LC_ALL: 'C.UTF-8' });
      const reads = ['list'];
      const sub = c.argv[c.argv[0] === 'sudo' ? 2 : 1] as string;
      if (prog === 'zfs' && !reads.includes(sub)) {
        const reloaded = concurrent ? calls.slice(i + 1).some((x) => FakeZfs.isReport(x.argv)) : FakeZfs.isReport(calls[i + 1]?.argv ?? []);
        expect([c.argv.join(' '), reloaded]).toEqual([c.argv.join(' '), true]);
      }
    });
    return calls
      .filter((c) => !FakeZfs.isReport(c.argv))
      .map((c) =>
        c.argv
          .join(' ')
          .replaceAll(this.devDir, '/dev')
          .replace(/qubes-clean-[a-z]{8}/g, 'qubes-clean-XXXXXXXX')
          .replace(/(\.exported\/[^/ ]+)\/[a-z]{8}/g, '$1/XXXXXXXX'),
      );
  }

  /** Names under `prefix`, snapshots with random parts as XXXXXXXX. */
  names(prefix: string): string[] {
    return [...this.sets.keys()]
      .filter((n) => n.startsWith(prefix))
      .map((n) => n.replace(/qubes-clean-[a-z]{8}/g, 'qubes-clean-XXXXXXXX'))
      .sort();
  }
}
