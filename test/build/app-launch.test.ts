import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { appScript, resolveLaunch } from "../../src/build/app-launch";
import { validateAppSpec } from "../../src/build/app-spec";
import { MergedTree } from "../../src/build/layer-merge";
import type { TreeView } from "../../src/build/flat-rootfs";
import { tempDir } from "../helpers/synthetic-snapshot";

const PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
const GROUP = "root:x:0:\nstaff:x:50:\napp:x:1000:\n";

function view(files: Record<string, string>, executables: string[], links: Record<string, string> = {}): TreeView {
  const tree = new MergedTree();
  let index = 0;
  const entries = [
    ...Object.keys(files).map((name) => ({ name, type: "file" as const, mode: 0o644 })),
    ...executables.map((name) => ({ name, type: "file" as const, mode: 0o755 })),
    ...Object.entries(links).map(([name, linkname]) => ({ name, type: "symlink" as const, mode: 0o777, linkname })),
  ];
  tree.apply(0, entries.map((e) => ({ ...e, uid: 0, gid: 0, mtime: 0, size: 1, index: index++ })));
  return { tree, readFile: async (p) => (files[p.replace(/^\//, "")] === undefined ? undefined : Buffer.from(files[p.replace(/^\//, "")])) };
}

const spec = (extra: Record<string, unknown>) => validateAppSpec({ name: "t", packages: ["xx"], ready: { quietMs: 500 }, ...extra }, "/specs/app.json");
const etc = { "etc/passwd": PASSWD, "etc/group": GROUP };

describe("resolveLaunch: how the agent starts the app, decided at build time", () => {
  it("finds the program in PATH (through a usrmerge symlink) and resolves a user name to numbers", async () => {
    const l = await resolveLaunch(spec({ run: ["sqlite3", "db"], user: "app:staff", data: ["/data"], env: { PATH: "/bin" } }), undefined, view(etc, ["usr/bin/sqlite3"], { bin: "usr/bin" }));
    expect(l).toMatchObject({ program: "/bin/sqlite3", fixed: ["sqlite3", "db"], uid: 1000, gid: 50, workdir: "/", data: ["/data"] });
    expect(l.env).toEqual(["PATH=/bin", "HOME=/home/app"]);
  });

  it("an image's Entrypoint is fixed and its Cmd is the default arguments; its Env, WorkingDir and User apply under the spec's", async () => {
    const defaults = { entrypoint: ["/opt/notes"], cmd: ["list"], env: ["PATH=/bin", "NOTES=/var/lib/notes", "TERM=xterm"], workingDir: "/opt", user: "1000" };
    const l = await resolveLaunch(spec({ env: { NOTES: "/srv" } }), defaults, view(etc, ["opt/notes"]));
    expect(l).toMatchObject({ program: "/opt/notes", fixed: ["/opt/notes"], defaults: ["list"], workdir: "/opt", uid: 1000, gid: 1000 });
    expect(l.env).toEqual(["PATH=/bin", "NOTES=/srv", "HOME=/home/app"]);
  });

  it("refuses, naming the field: a program nowhere in PATH, a user or group the image lacks, a command that is not executable", async () => {
    const v = view(etc, ["usr/bin/ok"], {});
    await expect(resolveLaunch(spec({ run: ["nope"] }), undefined, v)).rejects.toMatchObject({ code: "VMSFX_RECIPE_INVALID", message: expect.stringMatching(/"run" starts with "nope", which is in none of the app's PATH folders/) });
    await expect(resolveLaunch(spec({ run: ["ok"], user: "ghost" }), undefined, v)).rejects.toThrow(/"user" names "ghost", who is not in the app's \/etc\/passwd/);
    await expect(resolveLaunch(spec({ run: ["ok"], user: "app:ghosts" }), undefined, v)).rejects.toThrow(/names the group "ghosts"/);
    await expect(resolveLaunch(spec({ run: ["/etc/passwd"] }), undefined, v)).rejects.toThrow(/\/etc\/passwd, which is not an executable file/);
    await expect(resolveLaunch(spec({}), { env: [] }, v)).rejects.toThrow(/the image has neither an Entrypoint nor a Cmd/);
  });
});

describe("appScript: /.vmsfx/app.sh, sourced by the guest agent", () => {
  it("passes every argument through sh unchanged (quotes, spaces, newlines, $), defaults only without arguments", async () => {
    const dir = tempDir();
    const printer = path.join(dir, "print-args");
    writeFileSync(printer, '#!/bin/sh\nfor a in "$@"; do printf "[%s]" "$a"; done\nprintf "|HOME=%s|TERM=%s" "$HOME" "$TERM"\n');
    chmodSync(printer, 0o755);
    const weird = "it's a \"test\" $HOME `x`\nline2";
    const script = appScript({ program: "/usr/bin/app", fixed: ["app", weird], defaults: ["--default"], env: ["HOME=/h o", "X=$Y"], workdir: "/w d", uid: 1000, gid: 50, data: ["/data", "/var/lib/x y"] });
    const text = script.data!.toString().replace("/bin/vmsfx-exec", printer);
    writeFileSync(path.join(dir, "app.sh"), text);
    const run = (args: string[]) => execFileSync("sh", ["-c", '. ./app.sh; TERM=xterm; app_exec "$@"', "sh", ...args], { cwd: dir, encoding: "utf8" });
    expect(run(["user arg", ""])).toBe(`[/vmsfx/root][/w d][1000][50][/usr/bin/app][app][${weird}][user arg][]|HOME=/h o|TERM=xterm`);
    expect(run([])).toBe(`[/vmsfx/root][/w d][1000][50][/usr/bin/app][app][${weird}][--default]|HOME=/h o|TERM=xterm`);
    expect(execFileSync("sh", ["-c", '. ./app.sh; printf "%s" "$APP_DATA"'], { cwd: dir, encoding: "utf8" })).toBe("/data\n/var/lib/x y");
  });
});
