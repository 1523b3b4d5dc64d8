import { describe, expect, it } from "vitest";
import { LayerMergeError, MergedTree, comparePaths, type EntryType, type LayerEntry } from "../../src/build/layer-merge";

let counter = 0;
const e = (name: string, type: EntryType = "file", extra: Partial<LayerEntry> = {}): LayerEntry => ({ name, type, mode: type === "directory" ? 0o755 : 0o644, uid: 0, gid: 0, mtime: 0, size: 0, index: counter++, ...extra });
const paths = (t: MergedTree) => t.entries().map((x) => (x.type === "symlink" || x.type === "link" ? `${x.path} -> ${x.linkname}` : x.type === "directory" ? `${x.path}/` : x.path));
const merged = (...layers: LayerEntry[][]) => {
  const t = new MergedTree();
  layers.forEach((l, i) => t.apply(i, l));
  return t;
};

describe("layer merge (OCI whiteouts, inside the image's root)", () => {
  it("later layers replace files, merge folders, and keep parents before children", () => {
    const t = merged([e("./etc/", "directory"), e("etc/a", "file", { size: 1 }), e("bin/sh")], [e("etc/", "directory", { mode: 0o700 }), e("etc/a", "file", { size: 2 }), e("etc/b")]);
    expect(paths(t)).toEqual(["bin/", "bin/sh", "etc/", "etc/a", "etc/b"]);
    expect(t.get("etc")).toMatchObject({ mode: 0o700, layer: 1 });
    expect(t.get("etc/a")).toMatchObject({ size: 2, layer: 1 });
  });

  it("a whiteout removes a path and its tree from the layers below, not the same layer's entries", () => {
    const t = merged([e("opt/old/x"), e("etc/gone"), e("keep")], [e("opt/.wh.old"), e("etc/.wh.gone"), e("etc/gone"), e(".wh.nothing-there")]);
    expect(paths(t)).toEqual(["etc/", "etc/gone", "keep", "opt/"]);
    expect(t.get("etc/gone")!.layer).toBe(1);
  });

  it("an opaque folder hides everything below it, wherever its marker is in the tar", () => {
    const t = merged([e("opt/a"), e("opt/sub/b"), e("other")], [e("opt/new"), e("opt/.wh..wh..opq")]);
    expect(paths(t)).toEqual(["opt/", "opt/new", "other"]);
  });

  it("a non-folder replaces a folder with its whole tree, and a folder replaces a file", () => {
    const t = merged([e("a/b/c"), e("f")], [e("a"), e("f/", "directory"), e("f/g")]);
    expect(paths(t)).toEqual(["a", "f/", "f/g"]);
  });

  it("refuses names with ..; absolute names are taken inside the root", () => {
    expect(() => merged([e("../etc/passwd")])).toThrow(LayerMergeError);
    expect(() => merged([e("a/../../x")])).toThrow(/"\.\." in its name/);
    expect(paths(merged([e("/abs/file")]))).toEqual(["abs/", "abs/file"]);
  });

  it("regression guard: a folder an earlier layer made a symlink out of the root is resolved inside the root", () => {
    // Extracting layer 2 naively would write through `etc -> /host/etc` or `up -> ../../..`.
    const t = merged([e("etc", "symlink", { linkname: "/host/etc" }), e("up", "symlink", { linkname: "../../.." })], [e("etc/passwd"), e("up/escaped"), e("up/.wh.keep")]);
    expect(paths(t)).toEqual(["escaped", "etc -> /host/etc", "host/", "host/etc/", "host/etc/passwd", "up -> ../../.."]);
  });

  it("symlink loops are an error, not a hang", () => {
    expect(() => merged([e("a", "symlink", { linkname: "b" }), e("b", "symlink", { linkname: "a" })], [e("a/x")])).toThrow(/too many levels of symbolic links/);
  });

  it("a file under a non-folder is refused", () => {
    // A tar extraction fails here too (ENOTDIR); a later layer's folder would replace f instead.
    expect(() => merged([e("f"), e("f/x")])).toThrow(/its parent "f" is not a folder/);
  });

  it("hard links name their file; when the file is removed or replaced, a link keeps its data", () => {
    const t = merged([e("bin/busybox", "file", { size: 9 }), e("bin/sh", "link", { linkname: "bin/busybox" }), e("bin/ls", "link", { linkname: "./bin/sh" })], [e("bin/.wh.busybox")]);
    expect(paths(t)).toEqual(["bin/", "bin/ls -> bin/sh", "bin/sh"]);
    expect(t.get("bin/sh")).toMatchObject({ type: "file", size: 9, layer: 0 });
    expect(() => merged([e("x", "link", { linkname: "missing" })])).toThrow(/hard link to "missing", which is not a file/);
    expect(() => merged([e("d/", "directory"), e("x", "link", { linkname: "d" })])).toThrow(/not a file/);
  });

  it("orders paths component by component", () => {
    expect(["a-b", "a/b", "a", "a.b"].sort(comparePaths)).toEqual(["a", "a/b", "a-b", "a.b"]);
  });
});
