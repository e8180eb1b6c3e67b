// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Progress of long work (a backup, a restore, a data copy) on stderr: on a
 * terminal one line redrawn in place (bar, percentage, bytes, rate, time
 * left), at most ten times a second; otherwise one line per whole percent;
 * nothing when quiet. Only the writer is given: the commands pass their
 * standard error (lib/tools/common/progress.ts).
 */
import { sizeText } from './size-text.js';

export interface ProgressOutput {
  write(s: string): void;
  isTTY: boolean;
}

const clock = (s: number): string => {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
};

export class Progress {
  private readonly start = Date.now();
  private lastDraw = 0;
  private lastPercent = -1;
  private drawn = false;
  private done = 0;

  constructor(
    private readonly label: string,
    private total: number,
    private readonly out: ProgressOutput,
    private readonly quiet: boolean,
  ) {}

  update(done: number): void {
    this.done = done;
    if (this.quiet) return;
    const pct = this.percent();
    if (this.out.isTTY) {
      const now = Date.now();
      if (now - this.lastDraw < 100) return;
      this.lastDraw = now;
      this.draw();
    } else if (Math.floor(pct) > this.lastPercent) {
      this.lastPercent = Math.floor(pct);
      this.out.write(`${this.label} ${this.lastPercent}%\n`);
    }
  }

  private percent(): number {
    if (this.total <= 0) return 0;
    return Math.min(100, (100 * this.done) / this.total);
  }

  private draw(): void {
    const pct = this.percent();
    const secs = (Date.now() - this.start) / 1000;
    const rate = secs > 0 ? this.done / secs : 0;
    const left = rate > 0 ? Math.max(0, this.total - this.done) / rate : Infinity;
    const width = 24;
    const filled = Math.round((pct / 100) * width);
    const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
    this.out.write(`\r${this.label} [${bar}] ${pct.toFixed(2).padStart(6)}% ${sizeText(this.done)}/${sizeText(this.total)} ${sizeText(rate)}/s ETA ${clock(left)}\x1b[K`);
    this.drawn = true;
  }

  /** The end: 100% on the terminal line (then a newline), or the last percent line. */
  finish(ok: boolean): void {
    if (this.quiet) return;
    if (ok) {
      this.done = Math.max(this.done, this.total);
      if (this.out.isTTY) this.draw();
      else if (this.lastPercent < 100) this.out.write(`${this.label} 100%\n`);
    }
    if (this.out.isTTY && this.drawn) this.out.write('\n');
  }
}
