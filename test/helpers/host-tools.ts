import { inject } from "vitest";

/**
 * The system tools the end-to-end tests use (nginx, chromium, qemu-user, an arm64 userland),
 * provided once by the global setup through build-scripts/host-tools.sh. A test that needs one
 * that could not be had is skipped; the global setup has already said, in one line per tool,
 * what to install.
 */
export type HostToolName = "nginx" | "chromium" | "qemu-aarch64" | "arm64-sysroot" | "umoci" | "skopeo" | "mmdebstrap" | "docker-registry" | "openssl";

export interface HostTool {
  path: string | null;
  install?: string;
}

export function hostTool(name: HostToolName): string | undefined {
  return inject("hostTools")[name]?.path ?? undefined;
}
