// Bundles the CLI and the engine worker into dist/ (CommonJS, as Node's single-executable
// support needs) and copies v86.wasm beside them, so dist/ runs without node_modules.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import { bundlePageScript } from "./page-bundle.mjs";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const require = createRequire(path.join(root, "package.json"));
const v86Dir = path.dirname(require.resolve("v86/package.json"));
const v86Version = JSON.parse(readFileSync(path.join(v86Dir, "package.json"), "utf8")).version;
const ourVersion = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).version;
const dist = path.join(root, "dist");
mkdirSync(dist, { recursive: true });

// The browser window's script, inlined into the launcher (src/gui/page-asset.ts).
const pageScript = await bundlePageScript();

const common = {
  bundle: true,
  platform: "node",
  target: "node24",
  format: "cjs",
  sourcemap: "linked",
  logLevel: "warning",
  metafile: true,
  // yargs and v86 are ES modules that read import.meta.url; in a CommonJS bundle it is the file itself.
  banner: { js: 'const __vmsfx_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
  define: {
    "import.meta.url": "__vmsfx_import_meta_url",
    __V86_VERSION__: JSON.stringify(v86Version),
    "process.env.VMSFX_VERSION": JSON.stringify(ourVersion),
    __VMSFX_PAGE_SCRIPT__: JSON.stringify(pageScript),
  },
};

const results = await Promise.all([
  // postject (4.8 MB) is only needed by `pack --exe`; it is required from node_modules then.
  build({ ...common, entryPoints: [path.join(root, "src/cli/main.ts")], outfile: path.join(dist, "vmsfx.cjs"), external: ["postject"] }),
  // The program inside an executable: nothing external, since it runs where nothing is installed.
  build({ ...common, entryPoints: [path.join(root, "src/launcher/launcher-entry.ts")], outfile: path.join(dist, "launcher.cjs"), sourcemap: false }),
  build({ ...common, entryPoints: [path.join(root, "src/engine/engine-worker.ts")], outfile: path.join(dist, "engine-worker.cjs") }),
]);
// Temp + rename: a test run that starts during a rebuild must never see half a wasm file.
const wasmTmp = path.join(dist, `.v86.wasm.${process.pid}.tmp`);
copyFileSync(path.join(v86Dir, "build", "v86.wasm"), wasmTmp);
renameSync(wasmTmp, path.join(dist, "v86.wasm"));
if (process.env.VMSFX_BUILD_REPORT) {
  const { analyzeMetafile } = await import("esbuild");
  for (const r of results) console.log(await analyzeMetafile(r.metafile));
}
