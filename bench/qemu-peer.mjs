#!/usr/bin/env node
// Peer benchmark: the same guest (the shell sample as `vmsfx build` makes it) under QEMU TCG, measuring what a
// user would do instead of vmsfx: cold boot, `stop` + `migrate exec:` to a file,
// then `-incoming exec:` restores. Prints ONE JSON line on stdout; logs go to stderr.
//
//   node bench/qemu-peer.mjs --machine DIR/machine.json [--runs N] [--workdir DIR]
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const QEMU = 'qemu-system-i386';
const BOOT_TIMEOUT_MS = 120_000;
const RESTORE_TIMEOUT_MS = 30_000;
const SAVE_TIMEOUT_MS = 60_000;
const SETTLE_MS = 500;

const { values: opt } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    workdir: { type: 'string' },
    // Written by `vmsfx build --keep-disks DIR` (the benchmark builds the shell sample so).
    machine: { type: 'string' },
  },
});
const runs = Number(opt.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${opt.runs}`);

const log = (...a) => console.error('[qemu-peer]', ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const shq = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

// --- cleanup: children and scratch files must not outlive us, whatever happens ---
const children = new Set();
let workdir;
let ownWorkdir = false;
const scratch = [];
function cleanup() {
  for (const c of children) try { c.kill('SIGKILL'); } catch {}
  if (!workdir) return;
  if (ownWorkdir) fs.rmSync(workdir, { recursive: true, force: true });
  else for (const f of scratch) fs.rmSync(f, { force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

// Reject `p` after `ms` with a message naming what we were waiting for.
function deadline(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timeout after ${ms} ms waiting for ${what}`)), ms); })])
    .finally(() => clearTimeout(t));
}

// --- the app's guest, as `vmsfx build --keep-disks` left it ---
if (!opt.machine) throw new Error('--machine DIR/machine.json is required (vmsfx build --keep-disks DIR)');
const recipe = JSON.parse(fs.readFileSync(path.resolve(opt.machine), 'utf8'));
const { kernel, initrd, hda: rootDisk, hdb: srcDisk } = recipe;
const readyRe = new RegExp(recipe.ready);
for (const f of [kernel, initrd, rootDisk, srcDisk]) if (!fs.existsSync(f)) throw new Error(`missing ${f} (run: vmsfx build --keep-disks)`);

// --- one QEMU process: console on a pipe (stdio), the guest agent's port and QMP on unix sockets ---
function startQemu(disk, qmpSock, agentSock, extra = []) {
  fs.rmSync(qmpSock, { force: true });
  fs.rmSync(agentSock, { force: true });
  const args = [
    '-accel', 'tcg', '-m', String(recipe.memoryMiB),
    '-kernel', kernel, '-initrd', initrd, '-append', recipe.cmdline,
    // The default PIIX IDE controller, as in v86: the app's read-only root (its writes, none,
    // would go to a scratch overlay) as the primary master and its data disk as the slave.
    '-drive', `file=${rootDisk},format=raw,if=ide,index=0,snapshot=on`,
    '-drive', `file=${disk},format=raw,if=ide,index=1`,
    '-nographic', '-serial', 'stdio', '-serial', `unix:${agentSock},server=on,wait=off`,
    '-qmp', `unix:${qmpSock},server=on,wait=off`,
    '-no-reboot', ...extra,
  ];
  const t0 = performance.now();
  const proc = spawn(QEMU, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(proc);
  const vm = { proc, t0, args, out: '', waiters: new Set(), exited: false };
  proc.stdout.on('data', (d) => { vm.out += d.toString('latin1'); for (const w of vm.waiters) w(); });
  proc.stderr.on('data', (d) => log('qemu stderr:', d.toString().trim()));
  proc.on('exit', (code, sig) => {
    vm.exited = true; children.delete(proc);
    for (const w of vm.waiters) w(new Error(`qemu exited (code ${code}, signal ${sig})`));
  });
  proc.stdin.on('error', () => {}); // EPIPE if qemu dies; reported via 'exit'
  return vm;
}

// Resolve when pred(serialOutput) is true; checked on every chunk of serial output.
function waitSerial(vm, pred, ms, what) {
  return deadline(new Promise((res, rej) => {
    const w = (err) => {
      if (err) { vm.waiters.delete(w); rej(err); } else if (pred(vm.out)) { vm.waiters.delete(w); res(performance.now()); }
    };
    vm.waiters.add(w); w(vm.exited ? new Error('qemu already exited') : undefined);
  }), ms, what);
}

// Minimal QMP client. QEMU creates the socket during startup, so retry until it accepts.
async function connectQmp(sockPath, ms) {
  const until = performance.now() + ms;
  let sock;
  for (;;) {
    try {
      sock = await new Promise((res, rej) => { const s = net.connect(sockPath, () => res(s)); s.once('error', rej); });
      break;
    } catch (e) {
      if (performance.now() > until) throw new Error(`timeout connecting QMP ${sockPath}: ${e.message}`);
      await sleep(1);
    }
  }
  let buf = '', nextId = 0;
  const pending = new Map();
  let greeted;
  const greeting = new Promise((r) => { greeted = r; });
  sock.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buf.slice(0, nl)); buf = buf.slice(nl + 1);
      if (msg.QMP) greeted();
      else if (msg.id !== undefined && pending.has(msg.id)) {
        const { res, rej, cmd } = pending.get(msg.id); pending.delete(msg.id);
        msg.error ? rej(new Error(`QMP ${cmd}: ${msg.error.desc}`)) : res(msg.return);
      }
    }
  });
  sock.on('close', () => { for (const p of pending.values()) p.rej(new Error(`QMP closed during ${p.cmd}`)); pending.clear(); });
  sock.on('error', () => {});
  const cmd = (execute, args) => new Promise((res, rej) => {
    const id = nextId++;
    pending.set(id, { res, rej, cmd: execute });
    sock.write(JSON.stringify({ execute, arguments: args, id }) + '\n');
  });
  await deadline(greeting, Math.max(1, until - performance.now()), 'QMP greeting');
  await cmd('qmp_capabilities');
  return { cmd, close: () => sock.destroy() };
}

// Quit politely (so the disk image is flushed), SIGKILL if that does not work.
async function stopQemu(vm, qmp) {
  if (vm.exited) return;
  const gone = new Promise((r) => vm.proc.once('exit', r));
  qmp?.cmd('quit').catch(() => {});
  await Promise.race([gone, sleep(5000)]);
  if (!vm.exited) { vm.proc.kill('SIGKILL'); await gone; }
  qmp?.close();
}

const vmHwmKb = (pid) => Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const median = (a) => { const s = [...a].sort((x, y) => x - y), m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const r1 = (x) => Math.round(x * 10) / 10;

async function main() {
  const version = execFileSync(QEMU, ['--version'], { encoding: 'utf8' }).split('\n')[0].trim();
  if (opt.workdir) { workdir = path.resolve(opt.workdir); fs.mkdirSync(workdir, { recursive: true }); }
  else { workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'qemu-peer-')); ownWorkdir = true; }
  const f = (name) => { const p = path.join(workdir, name); scratch.push(p); return p; };
  const bootDisk = f('boot-disk.img'), savedDisk = f('saved-disk.img'), runDisk = f('run-disk.img');
  const state = f('state.bin'), stateZst = f('state.bin.zst'), qmpSock = f('qmp.sock'), agentSock = f('agent.sock');
  log(`${version}; workdir ${workdir}`);

  // 1. Cold boot until the app (started by the guest agent) shows its prompt.
  fs.copyFileSync(srcDisk, bootDisk);
  const boot = startQemu(bootDisk, qmpSock, agentSock);
  log('cold boot:', QEMU, boot.args.map((a) => (/[\s"'$]/.test(a) ? shq(a) : a)).join(' '));
  const qmp = await connectQmp(qmpSock, 10_000);
  // The agent ignores `start` once the app runs, and a line sent before it listens is lost.
  const agent = await new Promise((res, rej) => { const s = net.connect(agentSock, () => res(s)); s.once('error', rej); });
  const starter = setInterval(() => agent.write('start\n'), 500);
  const tPrompt = await waitSerial(boot, (s) => readyRe.test(s), BOOT_TIMEOUT_MS, `prompt /${recipe.ready.serial}/ at boot`);
  const bootToPromptMs = tPrompt - boot.t0;
  clearInterval(starter);
  agent.destroy();
  log(`prompt after ${bootToPromptMs.toFixed(0)} ms`);
  // Answer busybox's cursor-position query, as a terminal would.
  if (boot.out.endsWith('\x1b[6n')) boot.proc.stdin.write('\x1b[24;1R');
  await sleep(SETTLE_MS);

  // 2. Save: stop, migrate to a file, quit. Lift the default 32 MiB/s migration throttle.
  await qmp.cmd('migrate-set-parameters', { 'max-bandwidth': 1e12 });
  await qmp.cmd('stop');
  const tSave = performance.now();
  await qmp.cmd('migrate', { uri: `exec:cat > ${shq(state)}` });
  await deadline((async () => {
    for (;;) {
      const { status, 'error-desc': err } = await qmp.cmd('query-migrate');
      if (status === 'completed') return;
      if (status === 'failed' || status === 'cancelled') throw new Error(`migration ${status}: ${err ?? ''}`);
      await sleep(10);
    }
  })(), SAVE_TIMEOUT_MS, 'migration to complete');
  log(`saved in ${(performance.now() - tSave).toFixed(0)} ms`);
  await stopQemu(boot, qmp);
  // The disk is copied only now (qemu flushed and exited) so it matches the saved RAM.
  fs.copyFileSync(bootDisk, savedDisk);
  const stateBytes = fs.statSync(state).size;
  execFileSync('zstd', ['-19', '-T1', '-q', '-f', '-o', stateZst, state]);
  const stateZstd19Bytes = fs.statSync(stateZst).size;
  log(`state ${stateBytes} bytes, zstd -19 ${stateZstd19Bytes} bytes`);

  // 3. Restores, each from a fresh copy of the save-time disk.
  const restoreToRunningMs = [], restoreToAnswerMs = [];
  let peakRssKb = 0;
  for (let i = 0; i < runs; i++) {
    fs.copyFileSync(savedDisk, runDisk);
    const vm = startQemu(runDisk, qmpSock, agentSock, ['-incoming', `exec:cat ${shq(state)}`]);
    if (i === 0) log('restore:', QEMU, vm.args.map((a) => (/[\s"'$]/.test(a) ? shq(a) : a)).join(' '));
    let q;
    const marks = {};
    await deadline((async () => {
      q = await connectQmp(qmpSock, RESTORE_TIMEOUT_MS);
      marks.qmp = performance.now() - vm.t0;
      // The stream carries the source's run state ("paused", since we stopped it), so
      // QEMU does not autostart after loading; `cont` during "inmigrate" would only set
      // autostart, which that saved state overrides. Poll until loaded, then `cont`.
      let status;
      while ((status = (await q.cmd('query-status')).status) === 'inmigrate') await sleep(1);
      marks.loaded = performance.now() - vm.t0;
      marks.statusAfterLoad = status;
      if (status !== 'running') await q.cmd('cont');
      const tRunning = performance.now();
      // Expect the command's OUTPUT: the echoed input reads "$((a*b))", never the product.
      const a = 100 + ((Math.random() * 900) | 0), b = 100 + ((Math.random() * 900) | 0);
      const expect = `${a * b}qa`, from = vm.out.length;
      vm.proc.stdin.write(`echo $((${a}*${b}))qa\n`);
      const tAnswer = await waitSerial(vm, (s) => s.indexOf(expect, from) >= 0, RESTORE_TIMEOUT_MS, `"${expect}"`);
      restoreToRunningMs.push(r1(tRunning - vm.t0));
      restoreToAnswerMs.push(r1(tAnswer - vm.t0));
      const st = (await q.cmd('query-status')).status;
      if (st !== 'running') throw new Error(`guest answered but status is ${st}`);
      peakRssKb = Math.max(peakRssKb, vmHwmKb(vm.proc.pid));
    })(), RESTORE_TIMEOUT_MS, `restore run ${i + 1}`);
    log(`restore ${i + 1}/${runs}: qmp ${marks.qmp.toFixed(0)} ms, loaded (${marks.statusAfterLoad}) ${marks.loaded.toFixed(0)} ms, ` +
        `running ${restoreToRunningMs[i]} ms, answer ${restoreToAnswerMs[i]} ms`);
    await stopQemu(vm, q);
  }

  console.log(JSON.stringify({
    tool: 'qemu', version, accel: 'tcg',
    bootToPromptMs: r1(bootToPromptMs),
    restoreToRunningMs, restoreToAnswerMs, restoreToAnswerMedianMs: r1(median(restoreToAnswerMs)),
    stateBytes, stateZstd19Bytes, peakRssKb,
  }));
}

main().then(() => process.exit(0), (e) => { log('error:', e.message); process.exit(1); });
