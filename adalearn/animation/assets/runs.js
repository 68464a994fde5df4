// The runs an explorer stored, as adalearn.animation._storage lays them out.
// The n runs stored in `u8` with iterates quantised to 1/q pixel. Per run i: ran[i] (0 when
// not run), div[i] (1 when it diverged), count[i] iterates (its last valid step is
// count[i] - 1), final[i] (f there), exit[2i], exit[2i + 1] (the cross of a diverged run)
// and its pixels xy[2k], xy[2k + 1] for k from first[i] to first[i + 1] - 1.
function adlDecodeRuns(n, q, u8) {
  var pos = 0, i, k;
  // LEB128: seven bits per byte, low bits first; the high bit says that more follow.
  function unsigned() {
    var x = 0, m = 1, b;
    do { b = u8[pos++]; x += (b & 127) * m; m *= 128; } while (b & 128);
    return x;
  }
  // Zigzag: 0, 1, 2, 3, 4 stand for 0, -1, 1, -2, 2.
  function signed() { var v = unsigned(); return v % 2 ? -(v + 1) / 2 : v / 2; }
  var count = new Int32Array(n), div = new Uint8Array(n), ran = new Uint8Array(n);
  for (i = 0; i < n; i++) {
    var c = unsigned();
    if (c) { ran[i] = 1; div[i] = c % 2; count[i] = (c - div[i]) / 2; }
  }
  var view = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  var final = new Float64Array(n);
  for (i = 0; i < n; i++) if (ran[i]) { final[i] = view.getFloat64(pos, true); pos += 8; }
  var exit = new Float64Array(2 * n);
  for (i = 0; i < n; i++) {
    if (div[i]) { exit[2 * i] = signed() / q; exit[2 * i + 1] = signed() / q; }
  }
  var first = new Int32Array(n + 1), total = 0;
  for (i = 0; i < n; i++) { first[i] = total; total += count[i]; }
  first[n] = total;
  var xy = new Float64Array(2 * total), p = 0;
  for (i = 0; i < n; i++) {
    var x = 0, y = 0;
    for (k = 0; k < count[i]; k++) {
      x += signed(); y += signed();
      xy[2 * p] = x / q; xy[2 * p + 1] = y / q; p++;
    }
  }
  if (pos !== u8.length) throw new Error("stored runs: " + (u8.length - pos) + " bytes left over");
  return {ran: ran, div: div, count: count, final: final, exit: exit, first: first, xy: xy};
}
