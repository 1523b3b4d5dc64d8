import { describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { loadAppSpec, validateAppSpec } from "../../src/build/app-spec";
import { VmsfxError } from "../../src/errors";
import { tempDir } from "../helpers/synthetic-snapshot";

const FILE = "/home/pub/app/app.json";
const minimal = { name: "sqlite", packages: ["sqlite3"], ready: { serial: "sqlite> $" } };

/** The error a spec gets: always VMSFX_RECIPE_INVALID (exit 20), naming the file and the field. */
function refusal(spec: unknown): VmsfxError {
  try {
    validateAppSpec(spec, FILE);
  } catch (e) {
    expect(e).toBeInstanceOf(VmsfxError);
    const err = e as VmsfxError;
    expect(err.code).toBe("VMSFX_RECIPE_INVALID");
    expect(err.exitCode).toBe(20);
    expect(err.message.startsWith(`${FILE}: `)).toBe(true);
    return err;
  }
  throw new Error("expected the spec to be refused");
}

describe("app spec", () => {
  it("fills defaults and resolves host paths against the spec's folder", () => {
    const s = validateAppSpec({ ...minimal, icon: "icon.svg", files: [{ from: "./db", to: "/srv/db/" }], run: "sqlite3 /data/app.db", data: ["/data"], workdir: "/" }, FILE);
    expect(s).toMatchObject({
      name: "sqlite",
      memoryMiB: 128,
      diskMiB: 512,
      packages: ["sqlite3"],
      icon: "/home/pub/app/icon.svg",
      files: [{ from: "/home/pub/app/db", to: "/srv/db" }],
      run: ["/bin/sh", "-c", "sqlite3 /data/app.db"],
      env: {},
      data: ["/data"],
      workdir: "/",
    });
    expect(s.ready).toEqual({ serial: /sqlite> $/, timeoutSeconds: 120 });
  });

  it("takes an image instead of packages, an exec-form command and a quiet-console ready", () => {
    const s = validateAppSpec({ name: "web", image: { path: "img.tar" }, run: ["/usr/bin/app", "--port", "80"], env: { LANG: "C.UTF-8" }, user: "1000:1000", ready: { quietMs: 500, timeoutSeconds: 60 } }, FILE);
    expect(s.image).toEqual({ path: "/home/pub/app/img.tar" });
    expect(s.packages).toEqual([]);
    expect(s.run).toEqual(["/usr/bin/app", "--port", "80"]);
    expect(s.ready).toEqual({ quietMs: 500, timeoutSeconds: 60 });
    expect(validateAppSpec({ ...minimal, image: "other.tar" }, FILE).image).toEqual({ path: "/home/pub/app/other.tar" });
  });

  it("neither packages nor an image: the app's file system is busybox plus its files", () => {
    const s = validateAppSpec({ ...minimal, packages: [], files: [{ from: "tool", to: "/opt/tool" }] }, FILE);
    expect(s.packages).toEqual([]);
    expect(s.image).toBeUndefined();
    expect(s.files).toEqual([{ from: "/home/pub/app/tool", to: "/opt/tool" }]);
  });

  it.each([
    [{ ...minimal, pakages: ["x"] }, /"pakages" is not a field of an app spec/],
    [{ ...minimal, name: "My App" }, /"name" must be 1-64 lower-case letters/],
    [{ ...minimal, name: "../x" }, /"name" must be/],
    [{ ...minimal, packages: ["libc6; rm -rf /"] }, /"packages\[0\]" is not a Debian package name/],
    [{ ...minimal, packages: "sqlite3" }, /"packages" must be an array/],
    [{ ...minimal, memoryMiB: 4096 }, /"memoryMiB" must be an integer from 16 to 2048/],
    [{ ...minimal, diskMiB: 1.5 }, /"diskMiB" must be an integer/],
    [{ ...minimal, files: [{ from: "a", to: "etc/x" }] }, /"files\[0\]\.to" must be an absolute guest path/],
    [{ ...minimal, files: [{ from: "a", to: "/srv/../../etc" }] }, /"files\[0\]\.to" must not contain "\.\."/],
    [{ ...minimal, files: [{ from: "a", to: "/" }] }, /"files\[0\]\.to" must name a path below \//],
    [{ ...minimal, files: ["a"] }, /"files\[0\]" must be \{"from"/],
    [{ ...minimal, data: ["data"] }, /"data\[0\]" must be an absolute guest path/],
    [{ ...minimal, run: [] }, /"run" must be a command line/],
    [{ ...minimal, run: ["a", 3] }, /"run\[1\]" must be a string/],
    [{ ...minimal, env: { "1X": "a" } }, /"env\.1X" is not a valid variable name/],
    [{ ...minimal, env: { A: 1 } }, /"env\.A" must be a string/],
    [{ ...minimal, user: "root; id" }, /"user" must be a user name or uid/],
    [{ ...minimal, icon: "icon.gif" }, /"icon" must name an \.svg or \.png file/],
    [{ ...minimal, ready: undefined }, /"ready" must be \{"serial"/],
    [{ ...minimal, ready: { serial: "(" } }, /"ready\.serial" is not a valid regular expression/],
    [{ ...minimal, ready: { serial: "x", quietMs: 500 } }, /"ready" must have exactly one of "serial", "quietMs" and "port"/],
    [{ ...minimal, ready: { quietMs: 5 } }, /"ready\.quietMs" must be an integer from 100 to 60000/],
    [{ ...minimal, ready: { serial: "x", timeoutSeconds: 0 } }, /"ready\.timeoutSeconds" must be a number of seconds/],
    [{ ...minimal, ready: { serial: "x", port: 80 } }, /"ready" must have exactly one of "serial", "quietMs" and "port"/],
    [{ ...minimal, description: "two\nlines" }, /"description" must not contain NUL or newline/],
  ])("refuses %j, naming the field", (spec, message) => {
    expect(refusal(spec).message).toMatch(message);
  });

  it("refuses what is not an object", () => {
    for (const v of [null, [], "x", 3]) expect(() => validateAppSpec(v, FILE)).toThrow(/must hold a JSON object/);
  });

  it("reads a file: missing is exit 3, broken JSON is exit 20", async () => {
    const dir = tempDir();
    const file = path.join(dir, "app.json");
    await expect(loadAppSpec(file)).rejects.toMatchObject({ code: "VMSFX_FILE_NOT_FOUND", exitCode: 3 });
    writeFileSync(file, "{ name: ");
    await expect(loadAppSpec(file)).rejects.toMatchObject({ code: "VMSFX_RECIPE_INVALID", exitCode: 20 });
    writeFileSync(file, JSON.stringify(minimal));
    expect((await loadAppSpec(file)).name).toBe("sqlite");
  });
});
