import { createReadStream, createWriteStream, promises as fsp } from "node:fs";
import * as path from "node:path";
import { pipeline } from "node:stream/promises";
import * as tar from "tar-stream";
import type { GuestBase } from "./guest-base";

/**
 * The app's file system when a spec names neither packages nor an image: the guest base's static
 * busybox with a link for each of its applets, a root user, and the usual folders; what
 * `FROM busybox` gives a container. Enough for a shell app or a static program in `files`.
 */

const FOLDERS = ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "tmp", "var", "home", "dev", "proc", "sys", "run"];

export async function writeBusyboxRoot(base: GuestBase, out: string, epoch: number): Promise<void> {
  const pack = tar.pack();
  const written = pipeline(pack, createWriteStream(out));
  const mtime = new Date(epoch * 1000);
  const add = (header: tar.Headers, body?: string) => new Promise<void>((resolve, reject) => pack.entry({ uid: 0, gid: 0, mtime, ...header }, body ?? Buffer.alloc(0), (e) => (e ? reject(e) : resolve())));
  for (const dir of FOLDERS) await add({ name: `${dir}/`, type: "directory", mode: dir === "tmp" ? 0o1777 : dir === "root" ? 0o700 : 0o755 });
  const busybox = path.join(base.dir, "busybox");
  const size = (await fsp.stat(busybox)).size;
  await pipeline(createReadStream(busybox), pack.entry({ name: "bin/busybox", type: "file", mode: 0o755, size, uid: 0, gid: 0, mtime }));
  const applets = (await fsp.readFile(path.join(base.dir, "busybox.applets"), "utf8")).split("\n").filter((a) => a && a !== "bin/busybox");
  for (const a of applets) await add({ name: a, type: "symlink", linkname: "/bin/busybox", mode: 0o777 });
  await add({ name: "etc/passwd", type: "file", mode: 0o644 }, "root:x:0:0:root:/root:/bin/sh\n");
  await add({ name: "etc/group", type: "file", mode: 0o644 }, "root:x:0:\n");
  pack.finalize();
  await written;
}
