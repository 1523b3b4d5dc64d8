import * as path from "node:path";

/**
 * Merges an OCI image's layers into one file tree, as a table of paths (issue 12). Nothing here
 * touches the filesystem: names from the image become keys of a map, checked and resolved inside
 * the image's own root, so a layer can never place a file outside it (`..`, absolute names, a
 * parent folder that an earlier layer made a symlink to `/etc` or `../..`).
 *
 * The rules are the OCI image spec's (layer.md, "Whiteouts"): `.wh.<name>` removes `<name>` from
 * the layers below; `.wh..wh..opq` hides everything the layers below put in its folder, whatever
 * its place in the tar; a layer's own entries are not affected by its whiteouts; a non-folder
 * replaces what was there, and a folder over a folder keeps the contents and takes the new
 * attributes.
 */

export type EntryType = "file" | "directory" | "symlink" | "link" | "character-device" | "block-device" | "fifo";

/** One tar entry of a layer, as read (the data stays in the layer; `index` finds it again). */
export interface LayerEntry {
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  /** Symlink target (any text: it is the guest's), or a hard link's target path in the image. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Position of the entry in its layer's tar, counting entries. */
  index: number;
}

/** A path of the merged tree and which layer's entry it is. */
export interface MergedEntry extends Omit<LayerEntry, "name"> {
  /** Normalised path below the root, without a leading slash ("" is the root). */
  path: string;
  layer: number;
}

export class LayerMergeError extends Error {
  constructor(
    readonly layer: number,
    readonly entryName: string,
    why: string,
  ) {
    super(`layer ${layer + 1}, entry ${JSON.stringify(entryName.slice(0, 200))}: ${why}`);
  }
}

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";
const MAX_SYMLINK_HOPS = 40; // Linux's own limit (ELOOP)

/** The tree being built: path → entry. The root ("") is always a folder. */
export class MergedTree {
  private readonly table = new Map<string, MergedEntry>();
  /** Hard links by the file they name. */
  private readonly linksTo = new Map<string, Set<string>>();

  constructor() {
    this.table.set("", { path: "", type: "directory", mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0, index: -1, layer: -1 });
  }

  get(p: string): MergedEntry | undefined {
    return this.table.get(p);
  }

  /**
   * Where a guest path leads once every symlink on the way is followed inside the root (the last
   * component too), as the guest's own lookups would; "" is the root.
   */
  follow(p: string): string {
    return this.resolve(clean(p, -1), -1, p);
  }

  /** Every entry, parents before children (sorted by path components). */
  entries(): MergedEntry[] {
    return [...this.table.values()].filter((e) => e.path !== "").sort((a, b) => comparePaths(a.path, b.path));
  }

  /** Applies one layer; its entries are as read from its tar, in order. */
  apply(layer: number, entries: LayerEntry[]): void {
    const own: LayerEntry[] = [];
    const opaque: string[] = [];
    const whiteouts: string[] = [];
    for (const e of entries) {
      const rel = clean(e.name, layer);
      const base = path.posix.basename(rel);
      if (base === OPAQUE) opaque.push(path.posix.dirname(rel));
      else if (base.startsWith(WHITEOUT)) whiteouts.push(path.posix.join(path.posix.dirname(rel), base.slice(WHITEOUT.length)));
      else own.push({ ...e, name: rel });
    }
    // Both kinds act on the layers below only, so they go before this layer's own entries.
    for (const dir of opaque) this.removeChildren(this.resolve(dot(dir), layer, dir));
    for (const w of whiteouts) {
      const at = this.resolveParent(w, layer);
      if (at !== "") this.removeTree(at);
    }
    for (const e of own) this.add(layer, e);
  }

  private add(layer: number, e: LayerEntry): void {
    if (e.name === "" || e.name === ".") {
      if (e.type !== "directory") throw new LayerMergeError(layer, e.name, "the image's root must be a folder");
      const root = this.table.get("")!;
      this.table.set("", { ...root, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime });
      return;
    }
    const at = this.resolveParent(e.name, layer);
    if (at === "") throw new LayerMergeError(layer, e.name, "resolves to the image's root");
    const old = this.table.get(at);
    if (old?.type === "directory" && e.type === "directory") {
      this.table.set(at, { ...old, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, layer, index: e.index });
      return;
    }
    if (old) this.removeTree(at);
    this.ensureParents(at, layer);
    if (e.type === "link") {
      // A hard link names its target by path; it ends up naming the file itself, never another link.
      let target = this.resolve(clean(e.linkname ?? "", layer), layer, e.name);
      let t = this.table.get(target);
      if (t?.type === "link") t = this.table.get((target = t.linkname!));
      if (!t || t.type === "directory" || t.type === "link" || target === at) throw new LayerMergeError(layer, e.name, `is a hard link to ${JSON.stringify(e.linkname)}, which is not a file in the image`);
      this.setLink(at, { ...e, path: at, layer, linkname: target });
      return;
    }
    this.table.set(at, { ...e, path: at, layer });
  }

  /** Missing parent folders are made, as a container runtime's extraction does. */
  private ensureParents(p: string, layer: number): void {
    const parts = p.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      const cur = this.table.get(dir);
      if (!cur) this.table.set(dir, { path: dir, type: "directory", mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0, index: -1, layer });
      else if (cur.type !== "directory") throw new LayerMergeError(layer, p, `its parent ${JSON.stringify(dir)} is not a folder`);
    }
  }

  private removeTree(p: string): void {
    this.removeChildren(p);
    this.drop(p);
  }

  private removeChildren(dir: string): void {
    const prefix = dir === "" ? "" : `${dir}/`;
    for (const k of [...this.table.keys()]) if (k !== "" && k.startsWith(prefix)) this.drop(k);
  }

  /**
   * Removes one path. A file that other paths are hard links to lives on in them (it is one
   * inode): the first link takes over its data, and the others now name that link.
   */
  private drop(p: string): void {
    const gone = this.table.get(p);
    if (!gone) return;
    this.table.delete(p);
    if (gone.type === "link") return void this.linksTo.get(gone.linkname!)?.delete(p);
    const links = [...(this.linksTo.get(p) ?? [])];
    this.linksTo.delete(p);
    const [heir, ...rest] = links;
    if (heir === undefined) return;
    this.table.set(heir, { ...gone, path: heir });
    for (const k of rest) this.setLink(k, { ...this.table.get(k)!, linkname: heir });
  }

  private setLink(at: string, e: MergedEntry): void {
    this.table.set(at, e);
    const set = this.linksTo.get(e.linkname!) ?? new Set<string>();
    set.add(at);
    this.linksTo.set(e.linkname!, set);
  }

  /** The parent folder resolved through symlinks, inside the root; the last component as it is. */
  private resolveParent(rel: string, layer: number): string {
    const dir = this.resolve(dot(path.posix.dirname(rel)), layer, rel);
    return joinRel(dir, path.posix.basename(rel));
  }

  /**
   * Resolves a path through the symlinks of the tree so far, never above the root: `..` at the
   * root stays there and an absolute target starts again at the root (what `chroot` would see).
   */
  private resolve(rel: string, layer: number, name: string): string {
    const todo = rel === "" ? [] : rel.split("/");
    const done: string[] = [];
    let hops = 0;
    while (todo.length) {
      const part = todo.shift()!;
      if (part === "" || part === ".") continue;
      if (part === "..") {
        done.pop();
        continue;
      }
      const here = [...done, part].join("/");
      const e = this.table.get(here);
      if (e?.type === "symlink") {
        if (++hops > MAX_SYMLINK_HOPS) throw new LayerMergeError(layer, name, "too many levels of symbolic links");
        const target = e.linkname ?? "";
        if (target.startsWith("/")) done.length = 0;
        todo.unshift(...target.split("/"));
        continue;
      }
      done.push(part);
    }
    return done.join("/");
  }
}

/** A tar name as a path below the root; a `..` component is refused, never resolved. */
function clean(name: string, layer: number): string {
  if (name.includes("\0")) throw new LayerMergeError(layer, name, "has a NUL character in its name");
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw new LayerMergeError(layer, name, 'has ".." in its name, which would reach outside the image');
  return parts.join("/");
}

const dot = (dir: string) => (dir === "." ? "" : dir);
const joinRel = (dir: string, base: string) => (dir === "" ? base : `${dir}/${base}`);

/** Orders paths component by component, so a folder always comes before what it holds. */
export function comparePaths(a: string, b: string): number {
  const pa = a.split("/");
  const pb = b.split("/");
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] !== pb[i]) return pa[i] < pb[i] ? -1 : 1;
  }
  return pa.length - pb.length;
}
