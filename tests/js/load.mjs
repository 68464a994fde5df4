// Loads the figures' scripts, as the pages carry them, into this context, and reads the
// fixtures that tests/test_javascript.py writes next to them.
import fs from "node:fs";
import path from "node:path";
import vm from "node:vm";

const folder = process.env.ADALEARN_JS_FIXTURES;
if (!folder) {
  throw new Error("ADALEARN_JS_FIXTURES is not set: run these tests through " +
    "tests/test_javascript.py, which writes the fixtures");
}

// Script-mode declarations become properties of the global object, as on a page.
export function load(...names) {
  for (const name of names) {
    const file = path.join(folder, name);
    vm.runInThisContext(fs.readFileSync(file, "utf8"), {filename: file});
  }
  return globalThis;
}

export function fixture(name) {
  return JSON.parse(fs.readFileSync(path.join(folder, name), "utf8"));
}

// The double whose IEEE bits are `hex` (big-endian): NaN, infinities and -0 included.
export function double(hex) {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt("0x" + hex));
  return view.getFloat64(0);
}
