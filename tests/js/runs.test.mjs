// The decoder of stored runs (runs.js) against the runs Python's encoder was given.
import assert from "node:assert/strict";
import test from "node:test";

import {double, fixture, load} from "./load.mjs";

const {adlInflate, adlDecodeRuns} = load("inflate.js", "runs.js");
const cases = fixture("runs.json");

// Every run as the decoder returns it, in the fixture's layout (null: not run).
async function decoded(stored) {
  const runs = adlDecodeRuns(stored.n, stored.q, await adlInflate(stored.blob));
  const out = [];
  for (let i = 0; i < stored.n; i++) {
    if (!runs.ran[i]) { out.push(null); continue; }
    out.push({
      last: runs.count[i] - 1,
      diverged: runs.div[i] === 1,
      final: runs.final[i],
      points: Array.from(runs.xy.subarray(2 * runs.first[i], 2 * runs.first[i + 1])),
      exit: runs.div[i] ? [runs.exit[2 * i], runs.exit[2 * i + 1]] : null,
    });
  }
  return out;
}

function expected(stored) {
  return stored.runs.map(run => run && {...run, final: double(run.final)});
}

test("an explorer's runs: not run, diverged and converged, over two starts", async () => {
  assert.deepEqual(await decoded(cases.explorer), expected(cases.explorer));
});

test("numbers that take many LEB128 bytes, of both signs, and one-point runs", async () => {
  assert.deepEqual(await decoded(cases.wide), expected(cases.wide));
});

test("bytes left over after the last run are an error", async () => {
  const bytes = await adlInflate(cases.wide.blob), longer = new Uint8Array(bytes.length + 1);
  longer.set(bytes);
  assert.throws(() => adlDecodeRuns(cases.wide.n, 1, longer), /1 bytes left over/);
});

test("inflating gives the deflated bytes back", async () => {
  // zlib's deflate of the bytes 0, 1, ..., 9, level 9.
  const bytes = await adlInflate("eNpjYGRiZmFlY+fgBAAArwAu");
  assert.deepEqual(Array.from(bytes), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});
