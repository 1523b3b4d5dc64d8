import { VmsfxError } from "../errors";

/**
 * The page's script, bundled from src/gui/page/ by build-scripts/page-bundle.mjs and inlined
 * here at build time, so dist/ and the one-file executable serve it with no file beside them.
 */
declare const __VMSFX_PAGE_SCRIPT__: string;

export function pageScript(): string {
  if (typeof __VMSFX_PAGE_SCRIPT__ === "string") return __VMSFX_PAGE_SCRIPT__;
  // Only source run without the build (a test importing src/) gets here.
  throw new VmsfxError("VMSFX_IO", "this vmsfx was built without the browser window's page; run `npm run build`.");
}
