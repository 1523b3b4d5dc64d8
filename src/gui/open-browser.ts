import { spawn } from "node:child_process";

/**
 * Asks the desktop to open a URL in the user's browser. Best effort: the URL is printed anyway,
 * and a machine without a desktop (or without the opener) just shows nothing more.
 */
export function openBrowser(url: string, platform: NodeJS.Platform = process.platform): void {
  // cmd's `start` takes its first quoted argument as a window title, hence the empty one; the
  // arguments are passed verbatim so Node's quoting does not turn "" into \"\".
  const [cmd, args] = platform === "darwin" ? ["open", [url]] : platform === "win32" ? ["cmd", ["/d", "/s", "/c", `start "" "${url}"`]] : ["xdg-open", [url]];
  try {
    const child = spawn(cmd, args as string[], { stdio: "ignore", detached: platform !== "win32", windowsHide: true, windowsVerbatimArguments: platform === "win32" });
    child.on("error", () => undefined);
    child.unref();
  } catch {
    // No opener: the printed URL is the way in.
  }
}
