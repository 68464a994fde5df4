// What every figure of adalearn.animation shares: numbers written as Python writes them, the
// status of a run as adalearn.plotting.run_status words it, and how a figure's script finds
// its element. Each figure's HTML wraps these declarations, with its own script, in one
// function scope, so figures of any number (and version) share a page without a global.

// [n, d] as BigInts with |x| / 10^k = n / d exactly (x finite, not 0).
function adlScaled(x, k) {
  var view = new DataView(new ArrayBuffer(8)), two = BigInt(2), ten = BigInt(10);
  view.setFloat64(0, Math.abs(x));
  var high = view.getUint32(0), low = view.getUint32(4);
  var exponent = (high >>> 20) & 2047;
  var mantissa = BigInt(high & 1048575) * BigInt(4294967296) + BigInt(low);
  if (exponent) mantissa += two ** BigInt(52);
  else exponent = 1;  // subnormal: no implicit bit, the smallest exponent
  var shift = exponent - 1075, n = mantissa, d = BigInt(1);
  if (shift >= 0) n *= two ** BigInt(shift); else d = two ** BigInt(-shift);
  if (k >= 0) d *= ten ** BigInt(k); else n *= ten ** BigInt(-k);
  return [n, d];
}

// n / d rounded to an integer, halves to even: how CPython rounds the exact value of a float
// (toFixed and toPrecision round halves up).
function adlHalfEven(n, d) {
  var q = n / d, twice = BigInt(2) * (n - q * d);
  if (twice > d || (twice === d && q % BigInt(2) === BigInt(1))) q += BigInt(1);
  return q;
}

function adlSpecial(v) {
  if (v === null || v === undefined) return "–";
  if (v !== v) return "nan";
  if (v === Infinity) return "inf";
  if (v === -Infinity) return "-inf";
  return null;
}

function adlJoin(sign, whole, fraction) {
  return sign + (fraction ? whole + "." + fraction : whole);
}

// Python's format(v, ".4g"): four significant digits, trailing zeros dropped, exponent
// notation below 1e-4 and from 1e4.
function adlFormat(v) {
  var special = adlSpecial(v);
  if (special !== null) return special;
  var sign = v < 0 || 1 / v < 0 ? "-" : "";
  if (v === 0) return sign + "0";
  // The exponent e with 1000 <= |v| / 10^(e - 3) < 10000; log10 may miss it by one.
  var e = Math.floor(Math.log10(Math.abs(v))), s = adlScaled(v, e - 3);
  if (s[0] < BigInt(1000) * s[1]) s = adlScaled(v, --e - 3);
  if (s[0] >= BigInt(10000) * s[1]) s = adlScaled(v, ++e - 3);
  var q = adlHalfEven(s[0], s[1]);
  if (q === BigInt(10000)) { q = BigInt(1000); e += 1; }
  var digits = q.toString();
  if (e < -4 || e >= 4) {
    var a = Math.abs(e);
    return adlJoin(sign, digits[0], digits.slice(1).replace(/0+$/, "")) + "e" +
      (e < 0 ? "-" : "+") + (a < 10 ? "0" : "") + a;
  }
  if (e >= 0) {
    return adlJoin(sign, digits.slice(0, e + 1), digits.slice(e + 1).replace(/0+$/, ""));
  }
  return adlJoin(sign, "0", ("0".repeat(-e - 1) + digits).replace(/0+$/, ""));
}

// Python's format(v, ".<decimals>f").
function adlFixed(v, decimals) {
  var special = adlSpecial(v);
  if (special !== null) return special;
  var sign = v < 0 || 1 / v < 0 ? "-" : "";
  var digits = (v === 0 ? BigInt(0) : adlHalfEven.apply(null, adlScaled(v, -decimals)))
    .toString().padStart(decimals + 1, "0");
  var cut = digits.length - decimals;
  return adlJoin(sign, digits.slice(0, cut), digits.slice(cut));
}

// adalearn.plotting.run_status: "f = 0.01234" for a run that ended at its step `last`, or
// "diverged at step 13", counted from 1, for one that left the box after step `last`.
function adlRunStatus(value, last, diverged) {
  return diverged ? "diverged at step " + (last + 1) : "f = " + adlFormat(value);
}

// A run as the readouts say it: "Adam (learning rate 0.02): f = 0.0003142 after 300 steps",
// or "...: diverged at step 13"; `last` is the step shown, `who` the run's name and values.
function adlRunSentence(who, value, last, diverged) {
  var status = adlRunStatus(value, last, diverged);
  if (!diverged) status += " after " + last + (last === 1 ? " step" : " steps");
  return who + ": " + status;
}

// Calls init(root) once for the figure whose id is `uid`: at once when the page runs the
// script in place (its parent is the figure), else once the front end has inserted the
// output (JupyterLab and the classic notebook evaluate an output's scripts apart from it).
function adlStart(script, uid, init) {
  function start() {
    var root = document.getElementById(uid);
    if (!root || root.getAttribute("data-state")) return;
    root.setAttribute("data-state", "loading");
    init(root);
  }
  if (script && script.parentNode && script.parentNode.id === uid) start();
  else window.setTimeout(start, 0);
}
