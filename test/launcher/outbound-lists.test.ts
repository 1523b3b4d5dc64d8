import { describe, expect, it } from "vitest";
import { outboundLists } from "../../src/launcher/outbound-lists";
import type { Manifest } from "../../src/snapshot/manifest";

const manifest = (app?: object, policy?: object) => ({ app: app && { protocol: 2, dataDisk: "hdb", data: [], ...app }, policy }) as unknown as Manifest;

describe("outboundLists: the app's rules, narrowed by the signed policy and by --no-network", () => {
  it("an app without rules has no way out, whatever else is said", () => {
    expect(outboundLists(manifest(), true)).toBeUndefined();
    expect(outboundLists(manifest({}), true)).toBeUndefined();
    expect(outboundLists(manifest({ outbound: [] }, { outbound: ["*"] }), true)).toBeUndefined();
  });

  it("each restriction is one more list that must allow", () => {
    expect(outboundLists(manifest({ outbound: ["*"] }), true)).toEqual([["*"]]);
    expect(outboundLists(manifest({ outbound: ["*"] }, { outbound: ["*:443"] }), true)).toEqual([["*"], ["*:443"]]);
    expect(outboundLists(manifest({ outbound: ["*"] }, { outbound: [] }), true)).toEqual([["*"], []]);
    expect(outboundLists(manifest({ outbound: ["*"] }, { maxLaunches: 3 }), false)).toEqual([["*"], []]);
  });
});
