import type { Agent as AgentClass, Dispatcher } from "undici";

/**
 * Only the parts of undici vmsfx uses: the connection pool (Agent) and request(). undici's index
 * also loads fetch, WebSocket, EventSource, caches and mocks, about 600 KB more in the one-file
 * executable, none of it needed. The version is pinned in package.json and undici declares no
 * "exports" map, so these paths are stable for it; a moved one fails at first use, in every test
 * that fetches. Loaded on first use: a launch that fetches nothing (a full bundle) never pays
 * for evaluating undici on its resume path.
 */
interface Parts {
  Agent: typeof AgentClass;
  requestOn: (this: Dispatcher, opts: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;
}
let parts: Parts | undefined;

function load(): Parts {
  if (parts) return parts;
  /* eslint-disable @typescript-eslint/no-require-imports */
  const loaded: Parts = { Agent: require("undici/lib/dispatcher/agent.js"), requestOn: require("undici/lib/api/api-request.js") };
  /* eslint-enable @typescript-eslint/no-require-imports */
  if (typeof loaded.Agent !== "function" || typeof loaded.requestOn !== "function") throw new Error("undici's layout changed: update src/remote/undici-parts.ts"); // a build bug, not a user's
  return (parts = loaded);
}

export function newAgent(options: ConstructorParameters<typeof AgentClass>[0]): AgentClass {
  return new (load().Agent)(options);
}

export function request(on: Dispatcher, opts: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
  return load().requestOn.call(on, opts);
}
