// The peer a user would pick instead of vmsfx: QEMU (TCG, as here: no KVM) booting the sample's
// kernel, initrd and disk, saving with `migrate "exec:cat > file"` and restoring with
// `-incoming "exec:cat file"`. Prints one JSON line: boot time, restore-to-running and
// restore-to-answer times (from process start), state size raw and after zstd -19, peak RSS.
import { spawn, execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createConnection } from "node:net";
import * as os from "node:os";
import * as path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 5;
const recipePath = path.join(root, "samples/shell/vm.json");
const recipe = JSON.parse(readFileSync(recipePath, "utf8"));
const at = (p) => path.resolve(path.dirname(recipePath), p);
const work = mkdtempSync(path.join(os.tmpdir(), "vmsfx-qemu-"));
const log = (s) => process.stderr.write(`qemu-baseline: ${s}\n`);
const children = new Set();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(work, { recursive: true, force: true });
});

function qemu(extra, disk, sock) {
  const args = ["-accel", "tcg", "-m", String(recipe.memoryMiB), "-kernel", at(recipe.kernel), "-initrd", at(recipe.initrd), "-append", recipe.cmdline,
    "-drive", `file=${disk},format=raw,if=ide`, "-display", "none", "-serial", "stdio", "-monitor", `unix:${sock},server,nowait`, "-no-reboot", ...extra];
  const child = spawn("qemu-system-i386", args, { stdio: ["pipe", "pipe", "pipe"] });
  children.add(child);
  child.on("exit", () => children.delete(child));
  let out = "";
  child.stdout.on("data", (d) => (out += d.toString("latin1")));
  return { child, output: () => out };
}

async function waitFor(test, ms, what) {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** One HMP command over the monitor socket; resolves with its output. */
function monitor(sock, command) {
  return new Promise((resolve, reject) => {
    const c = createConnection(sock);
    let buf = "";
    let sent = false;
    c.on("data", (d) => {
      buf += d.toString();
      if (!sent && buf.includes("(qemu)")) {
        sent = true;
        buf = "";
        c.write(`${command}\n`);
      } else if (sent && buf.includes("(qemu)")) {
        c.end();
        resolve(buf);
      }
    });
    c.on("error", reject);
    // `quit` closes the monitor without a new prompt.
    c.on("close", () => resolve(buf));
  });
}

async function connectable(sock, ms) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await monitor(sock, "info status");
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 2));
    }
  }
}

const vmHwm = (pid) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);

async function main() {
  const version = execFileSync("qemu-system-i386", ["--version"]).toString().split("\n")[0];
  const disk = path.join(work, "disk.img");
  copyFileSync(at(recipe.disks[0].image), disk);
  const ready = new RegExp(recipe.ready.serial.replace(/\$$/, ""));
  const sock = path.join(work, "boot.sock");
  const t0 = performance.now();
  const boot = qemu([], disk, sock);
  await waitFor(() => ready.test(boot.output()), 120_000, "the shell prompt");
  const bootToPromptMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 500));
  const state = path.join(work, "state.bin");
  await monitor(sock, "stop");
  await monitor(sock, `migrate "exec:cat > ${state}"`);
  for (;;) {
    const info = await monitor(sock, "info migrate");
    if (/Migration status: completed/.test(info)) break;
    if (/Migration status: failed/.test(info)) throw new Error(info);
    await new Promise((r) => setTimeout(r, 20));
  }
  await monitor(sock, "quit").catch(() => undefined);
  // The restored guest expects the disk exactly as it was when saved.
  const savedDisk = path.join(work, "disk-at-save.img");
  copyFileSync(disk, savedDisk);
  execFileSync("zstd", ["-19", "-T1", "-q", "-f", state, "-o", `${state}.zst`]);

  const restoreToRunningMs = [];
  const restoreToAnswerMs = [];
  let peakRssKb = 0;
  for (let i = 0; i < runs; i++) {
    const runDisk = path.join(work, `disk-${i}.img`);
    copyFileSync(savedDisk, runDisk);
    const s = path.join(work, `r${i}.sock`);
    const start = performance.now();
    const r = qemu(["-incoming", `exec:cat ${state}`], runDisk, s);
    await connectable(s, 30_000);
    // The state was saved from a stopped VM, so the restored one waits for `cont` once the
    // incoming migration is done.
    for (;;) {
      const status = await monitor(s, "info status");
      if (/status: running/.test(status)) break;
      if (/status: paused(?! \(inmigrate\))/.test(status)) await monitor(s, "cont");
    }
    restoreToRunningMs.push(performance.now() - start);
    // Typed once the guest runs (input sent while QEMU is still loading the state is dropped).
    r.child.stdin.write("echo $((6*7))xyz\n");
    await waitFor(() => /42xyz/.test(r.output()), 30_000, "the answer");
    restoreToAnswerMs.push(performance.now() - start);
    peakRssKb = Math.max(peakRssKb, vmHwm(r.child.pid));
    r.child.kill("SIGKILL");
    await new Promise((res) => r.child.once("exit", res));
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  process.stdout.write(JSON.stringify({
    tool: "qemu", version, accel: "tcg", bootToPromptMs,
    restoreToRunningMs, restoreToAnswerMs, restoreToAnswerMedianMs: median(restoreToAnswerMs),
    stateBytes: statSync(state).size, stateZstd19Bytes: statSync(`${state}.zst`).size, peakRssKb,
  }) + "\n");
}

main().then(() => process.stdout.write("", () => process.exit(0)), (e) => {
  log(e.stack ?? String(e));
  process.exit(1);
});
