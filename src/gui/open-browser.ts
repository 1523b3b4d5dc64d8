import { spawn } from "node:child_process";

/**
 * Asks the desktop to open a URL in the user's browser. Best effort: the URL is printed anyway,
 * and a machine without a desktop (or without the opener) just shows nothing more.
 */
export function openBrowser(url: string, platform: NodeJS.Platform = process.platform): void {
  const [cmd, args] =
    platform === "darwin" ? ["open", [url]] : platform === "win32" ? ["cmd", ["/c", "start", '""', url.replace(/&/g, "^&")]] : ["xdg-open", [url]];
  try {
    const child = spawn(cmd, args as string[], { stdio: "ignore", detached: true, windowsHide: true });
    child.on("error", () => undefined);
    child.unref();
  } catch {
    // No opener: the printed URL is the way in.
  }
}
