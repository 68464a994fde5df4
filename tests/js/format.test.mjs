// Numbers and statuses as Python writes them: figure.js (and basins.js's shares) against
// format() and run_status.
import assert from "node:assert/strict";
import test from "node:test";

import {double, fixture, load} from "./load.mjs";

const {adlFormat, adlFixed, adlRunStatus} = load("figure.js", "status.js", "basins.js");
const cases = fixture("format.json");

function mismatches(rows, write) {
  const wrong = [];
  for (const row of rows) {
    const got = write(row), expected = row[row.length - 1];
    if (got !== expected) wrong.push(`${row[0]}: ${got} instead of ${expected}`);
  }
  return wrong;
}

test("format(x, '.4g') of special values, halves and extremes", () => {
  const special = cases.g4.filter(([hex]) => {
    const x = double(hex);
    return !Number.isFinite(x) || x === 0 || Math.abs(x) < 1e-300 || Math.abs(x) > 1e300 ||
      Number.isInteger(x * 2 ** 20);
  });
  assert.ok(special.length > 500, `${special.length} cases`);
  assert.deepEqual(mismatches(special, ([hex]) => adlFormat(double(hex))), []);
});

test("format(x, '.4g') of every fixture value", () => {
  assert.ok(cases.g4.length > 5000, `${cases.g4.length} cases`);
  assert.deepEqual(mismatches(cases.g4, ([hex]) => adlFormat(double(hex))), []);
});

test("format(x, '.Nf') for N = 0 to 3", () => {
  assert.ok(cases.fixed.length > 10000, `${cases.fixed.length} cases`);
  assert.deepEqual(mismatches(cases.fixed, ([hex, n]) => adlFixed(double(hex), n)), []);
});

test("a missing value reads as a dash", () => {
  assert.equal(adlFormat(null), "–");
  assert.equal(adlFormat(undefined), "–");
});

test("the run status is plotting.run_status's", () => {
  assert.deepEqual(mismatches(cases.status,
    ([hex, stopped, diverged]) => adlRunStatus(double(hex), stopped, diverged)), []);
});
