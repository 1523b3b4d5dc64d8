import { createReadStream, createWriteStream, promises as fsp } from "node:fs";
import { pipeline } from "node:stream/promises";
import { VmsfxError, fromFsError } from "../errors";
import { openBundle } from "../snapshot/bundle-reader";
import { commitTempFile, tempPathFor } from "../snapshot/atomic-file";

/**
 * An app is the launcher runtime followed by a bundle. This turns an existing bundle (plain, or
 * the payload of another app) into an app without repacking it: the bundle's offsets are
 * relative to its own start, so its bytes are copied as they are.
 */
export async function makeExecutable(runtime: string, bundlePath: string, out: string): Promise<{ bytes: number; runtimeBytes: number }> {
  const bundle = await openBundle(bundlePath);
  const { bundleStart, fileSize } = bundle;
  await bundle.close();
  const tmp = tempPathFor(out);
  try {
    const dest = createWriteStream(tmp, { flags: "wx", mode: 0o755 });
    await pipeline(
      (async function* () {
        for await (const c of createReadStream(runtime)) yield c;
        for await (const c of createReadStream(bundlePath, { start: bundleStart, end: fileSize - 1 })) yield c;
      })(),
      dest,
    );
    const h = await fsp.open(tmp, "r+");
    await h.sync().finally(() => h.close());
    await commitTempFile(tmp, out);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    if (e instanceof VmsfxError) throw e;
    throw fromFsError(e, out, "writing the executable");
  }
  const runtimeBytes = (await fsp.stat(runtime)).size;
  return { bytes: runtimeBytes + (fileSize - bundleStart), runtimeBytes };
}
