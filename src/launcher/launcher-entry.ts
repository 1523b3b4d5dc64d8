import { seaAssets } from "./sea-assets";
import { mayRunGuest, startEngineEarly } from "./engine-start";

/**
 * The executable's entry. A launch that will run the guest starts the engine worker and the
 * wasm compile before loading the launcher's code (yargs and the rest), so the two overlap
 * (measured side by side on 2 cores: the worker is ready ~70 ms sooner, v86 ~70 ms sooner). Anything that only prints or exits
 * (help, info, verify, install, fingerprint, reset) skips that.
 */

if (mayRunGuest(process.argv.slice(2))) {
  try {
    startEngineEarly(seaAssets());
  } catch {
    // Not inside an executable, or its assets are unreadable: the launcher says so properly.
  }
}
// Loaded only now, so its imports are evaluated while the worker boots.
// eslint-disable-next-line @typescript-eslint/no-require-imports
require("./launcher-main");
