import type { ArgumentsCamelCase, Argv } from "yargs";
import { VmsfxError } from "../errors";
import { MAX_BLOCK } from "../snapshot/manifest";

/** One `vmsfx` command: its yargs definition and what it runs, which yields the exit code. */
export interface CliCommand {
  addTo(y: Argv, done: (code: number) => void): Argv;
}

export function command<U>(name: string, describe: string, builder: (y: Argv) => Argv<U>, run: (a: ArgumentsCamelCase<U>) => Promise<number>): CliCommand {
  return { addTo: (y, done) => y.command(name, describe, builder, async (a) => done(await run(a))) };
}

/** `65536`, `64K`, `1M`: a size in bytes. */
export function parseSize(v: string | number): number {
  if (typeof v === "number") return v;
  const m = /^(\d+)\s*([kKmM]?)i?[bB]?$/.exec(v.trim());
  if (!m) throw new VmsfxError("VMSFX_USAGE", `"${v}" is not a size (try 65536, 64K or 1M).`);
  return Number(m[1]) * (m[2].toLowerCase() === "k" ? 1024 : m[2].toLowerCase() === "m" ? 1 << 20 : 1);
}

/** A `--block-size` or `--disk-block-size`: a power of two from 4K to 4M (MAX_BLOCK). */
export function blockSize(v: string | number): number {
  const n = parseSize(v);
  if (n < 4096 || n > MAX_BLOCK || (n & (n - 1)) !== 0) throw new VmsfxError("VMSFX_USAGE", `--block sizes must be powers of two from 4K to 4M (got ${n}).`);
  return n;
}

/** A zstd level, clamped to 1-19. */
export function zstdLevel(n: number): number {
  return Math.min(19, Math.max(1, n));
}
