/** The browser window's script, bundled into one classic script for the page (see page-bundle.mjs). */
export function bundlePageScript(): Promise<string>;
