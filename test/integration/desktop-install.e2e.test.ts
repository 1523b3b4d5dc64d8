import { describe, expect, it, inject } from "vitest";
import { existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { ROOT, runProgram, vmsfx } from "../helpers/cli";
import { tempDir } from "../helpers/synthetic-snapshot";
import { commandName, execQuote, installDesktop, installDirs, uninstallDesktop } from "../../src/launcher/desktop-install";
import { DEADLINE } from "../helpers/deadlines";

/** Key=value pairs of a .desktop file's [Desktop Entry] group. */
function parseDesktop(text: string): Record<string, string> {
  const lines = text.split("\n");
  expect(lines[0]).toBe("[Desktop Entry]");
  return Object.fromEntries(lines.slice(1).filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}

describe("desktop integration (--install / --uninstall)", () => {
  it("follows XDG_DATA_HOME (when absolute) and XDG_BIN_HOME, else ~/.local", () => {
    const home = "/home/u";
    expect(installDirs({}, home)).toEqual({
      applications: "/home/u/.local/share/applications",
      icons: "/home/u/.local/share/icons/hicolor",
      bin: "/home/u/.local/bin",
      records: "/home/u/.local/share/vmsfx/installed",
    });
    expect(installDirs({ XDG_DATA_HOME: "/x/data", XDG_BIN_HOME: "/x/bin" }, home)).toMatchObject({ applications: "/x/data/applications", icons: "/x/data/icons/hicolor", bin: "/x/bin" });
    // The spec says relative values are invalid and must be ignored.
    expect(installDirs({ XDG_DATA_HOME: "rel/data" }, home).applications).toBe("/home/u/.local/share/applications");
  });

  it("quotes Exec paths the way the Desktop Entry spec asks", () => {
    expect(execQuote("/opt/apps/shell")).toBe("/opt/apps/shell");
    expect(execQuote("/home/u/My Apps/a$b")).toBe('"/home/u/My Apps/a\\\\$b"');
    expect(execQuote("/x/100%")).toBe("/x/100%%");
    expect(commandName("My Shell! 2")).toBe("my-shell-2");
    expect(commandName("☃")).toBe("vmsfx-app");
  });

  it("the real executable installs a menu entry, icon and command in a temp HOME, and uninstalls exactly those", async () => {
    const dir = tempDir("vmsfx-desktop-");
    const app = path.join(dir, "My Apps", "shell-app");
    mkdirSync(path.dirname(app));
    expect((await vmsfx(["exe", inject("bundlePath"), "-o", app, "--quiet"], { timeoutMs: DEADLINE.launch })).code).toBe(0);
    const home = path.join(dir, "home");
    const data = path.join(dir, "xdg-data");
    mkdirSync(home);
    const env = { HOME: home, XDG_DATA_HOME: data, PATH: "/usr/bin:/bin" };
    const opts = { env, cwd: dir, bareEnv: true, timeoutMs: DEADLINE.launch };

    const r = await runProgram(app, ["--install"], opts);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Installed "shell"');
    expect(r.stdout).toContain("not on your PATH");
    const desktopFile = path.join(data, "applications", "vmsfx-shell.desktop");
    const entry = parseDesktop(readFileSync(desktopFile, "utf8"));
    expect(entry).toMatchObject({ Type: "Application", Name: "shell", Icon: "vmsfx-shell", Terminal: "true", Exec: `"${app}"` });
    expect(entry.Comment).toContain("Busybox shell");
    const icon = path.join(data, "icons", "hicolor", "scalable", "apps", "vmsfx-shell.svg");
    // The publisher's icon from the recipe (samples/shell/icon.svg), carried in the signed manifest.
    expect(readFileSync(icon, "utf8")).toBe(readFileSync(path.join(ROOT, "samples/shell/icon.svg"), "utf8"));
    const command = path.join(home, ".local", "bin", "shell");
    expect(lstatSync(command).mode & 0o111).not.toBe(0);
    // The command on PATH really starts this app (--info answers without running the guest).
    const info = await runProgram(command, ["--info", "--json"], opts);
    expect(info.code).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ guest: { name: "shell" } });
    // ...and passes arguments through to the guest's app, whose exit status comes back.
    const ran = await runProgram(command, ["--state-dir", path.join(dir, "state"), "--", "sh", "-c", "echo from-the-guest; exit 4"], opts);
    expect(ran.stdout).toBe("from-the-guest\r\n");
    expect(ran.code).toBe(4);

    // Installing again (an update) is fine; a user's own file of the same name is never replaced.
    expect((await runProgram(app, ["--install"], opts)).code).toBe(0);
    const other = tempDir("vmsfx-desktop-other-");
    const otherEnv = { ...env, HOME: other, XDG_DATA_HOME: path.join(other, "data") };
    mkdirSync(path.join(other, ".local", "bin"), { recursive: true });
    writeFileSync(path.join(other, ".local", "bin", "shell"), "#!/bin/sh\necho mine\n");
    const clash = await runProgram(app, ["--install"], { ...opts, env: otherEnv });
    expect(clash.code).toBe(4);
    expect(clash.stderr).toMatch(/already exists and was not installed by this app.*\[VMSFX_IO\]/);
    expect(readFileSync(path.join(other, ".local", "bin", "shell"), "utf8")).toContain("echo mine");

    // A file the user edited since is left alone; the rest goes.
    writeFileSync(desktopFile, readFileSync(desktopFile, "utf8") + "NoDisplay=true\n");
    const u = await runProgram(app, ["--uninstall"], opts);
    expect(u.code).toBe(0);
    expect(u.stdout).toContain(`Left ${desktopFile} in place`);
    expect(existsSync(command)).toBe(false);
    expect(existsSync(icon)).toBe(false);
    expect(existsSync(desktopFile)).toBe(true);
    expect(existsSync(path.join(data, "vmsfx", "installed", "vmsfx-shell.json"))).toBe(false);
    // Nothing left to remove.
    const again = await runProgram(app, ["--uninstall"], opts);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("not installed");
  });

  it("another copy of the same app cannot take over or remove the first one's entry", async () => {
    const dirs = installDirs({ XDG_DATA_HOME: path.join(tempDir(), "data"), XDG_BIN_HOME: path.join(tempDir(), "bin") });
    await installDesktop({ appPath: "/media/usb/shell", name: "shell" }, dirs, "");
    await expect(installDesktop({ appPath: "/home/u/shell", name: "shell" }, dirs, "")).rejects.toMatchObject({ code: "VMSFX_IO" });
    await expect(uninstallDesktop({ appPath: "/home/u/shell", name: "shell" }, dirs)).rejects.toMatchObject({ code: "VMSFX_IO" });
    expect(readFileSync(path.join(dirs.bin, "shell"), "utf8")).toContain("exec '/media/usb/shell'");
    expect((await uninstallDesktop({ appPath: "/media/usb/shell", name: "shell" }, dirs)).removed).toHaveLength(3);
  });
});
