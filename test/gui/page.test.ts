import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { bundlePageScript } from "../../build-scripts/page-bundle.mjs";
import { VmsfxError } from "../../src/errors";
import { guiPage } from "../../src/gui/page";
import { pageScript } from "../../src/gui/page-asset";

const ROOT = path.resolve(__dirname, "../..");

describe("the browser window's page", () => {
  it("type-checks its script against the DOM", () => {
    // The root tsconfig leaves the browser code out (it has Node's types, not the DOM's).
    execFileSync(process.execPath, [path.join(ROOT, "node_modules/typescript/bin/tsc"), "--noEmit", "-p", path.join(ROOT, "src/gui/page")], { stdio: "pipe" });
  });

  it("bundles the script into one classic script that can sit inside <script>", async () => {
    const script = await bundlePageScript();
    expect(script.startsWith('"use strict";')).toBe(true);
    expect(script).not.toMatch(/^\s*(import|export)\s/m);
    expect(script).toContain("/ws?t=");
    const html = guiPage("<demo>", "n0nce", script);
    expect(html).toContain(`<script nonce="n0nce">${script}</script>`);
    expect(html).toContain("<title>&#60;demo&#62; — vmsfx</title>");
    expect(html.match(/<\/script/gi)).toHaveLength(1);
  });

  it("comes from the build: source run without it says so with a typed error", () => {
    expect(() => pageScript()).toThrow(VmsfxError);
  });
});
