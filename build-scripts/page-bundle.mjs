// Bundles the browser window's script (src/gui/page/page-main.ts) into one classic script that
// the launcher inlines into its page: build-cli.mjs passes the text to the CLI and launcher
// bundles as a define, so dist/ and the one-file executable carry it with no extra asset.
// src/gui/page/package.json says "module": without it esbuild would take the page's files for
// CommonJS (the root package's type) and wrap each one in a lazy require.
// The console pane's terminal emulator (@xterm/xterm, a pinned devDependency) is bundled in, and
// its stylesheet too: a .css import is its text, which the pane puts in its shadow root, so the
// page needs no file and no network beyond the launcher's own address.
import { build } from "esbuild";
import * as path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");

export async function bundlePageScript() {
  const result = await build({
    entryPoints: [path.join(root, "src/gui/page/page-main.ts")],
    tsconfig: path.join(root, "src/gui/page/tsconfig.json"),
    bundle: true,
    write: false,
    platform: "browser",
    format: "iife",
    target: "es2020",
    charset: "utf8",
    loader: { ".css": "text" },
    logLevel: "warning",
  });
  const text = result.outputFiles[0].text;
  // It goes inside <script>…</script>: the HTML parser must not see an end tag or a comment.
  if (/<\/script|<!--/i.test(text)) throw new Error("the page script contains </script or <!--, which would break the inlined page");
  return text;
}
