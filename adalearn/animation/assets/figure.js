// What every figure of adalearn.animation shares: numbers written as Python writes them, and
// how a figure's script finds its element. Each figure's HTML wraps these declarations, with
// its own script, in one function scope, so figures of any number (and version) share a page
// without a global.

// Whether x (> 0) is exactly the decimal D·10^k, D an integer below 2^53 ending in 5: a
// halfway case when rounding away the last digit. Such a decimal is a double only when its
// odd part, D divided by the 5s of 10^-k, or D·5^k, is below 2^53; then it is x exactly
// when it reads as x.
function adlHalfway(x, D, k) {
  var fits = k < 0 ? D % Math.pow(5, -k) === 0 : D * Math.pow(5, k) < 9007199254740992;
  return D % 10 === 5 && fits && +(D + "e" + k) === x;
}

// The integer D / 10 rounded half to even, for D ending in 5: how CPython rounds a halfway
// case (toFixed and toExponential round it up).
function adlEven(D) {
  var q = (D - 5) / 10;
  return q % 2 ? q + 1 : q;
}

function adlSpecial(v) {
  if (v === null || v === undefined) return "–";
  if (v !== v) return "nan";
  if (v === Infinity) return "inf";
  if (v === -Infinity) return "-inf";
  return null;
}

function adlJoin(sign, whole, fraction) {
  fraction = fraction.replace(/0+$/, "");
  return sign + (fraction ? whole + "." + fraction : whole);
}

// Python's format(v, ".4g"): four significant digits, trailing zeros dropped, exponent
// notation below 1e-4 and from 1e4.
function adlFormat(v) {
  var special = adlSpecial(v);
  if (special !== null) return special;
  var sign = v < 0 || 1 / v < 0 ? "-" : "", x = Math.abs(v);
  if (x === 0) return sign + "0";
  var four = x.toExponential(3).split("e"), digits = four[0].replace(".", ""), e = +four[1];
  var five = x.toExponential(4).split("e"), D = +five[0].replace(".", "");
  if (adlHalfway(x, D, +five[1] - 4)) {
    var q = adlEven(D);
    e = +five[1] + (q === 10000 ? 1 : 0);
    digits = String(q === 10000 ? 1000 : q);
  }
  if (e < -4 || e >= 4) {
    var a = Math.abs(e);
    return adlJoin(sign, digits[0], digits.slice(1)) + "e" + (e < 0 ? "-" : "+") +
      (a < 10 ? "0" : "") + a;
  }
  if (e >= 0) return adlJoin(sign, digits.slice(0, e + 1), digits.slice(e + 1));
  return adlJoin(sign, "0", "0".repeat(-e - 1) + digits);
}

// The figure's live region, as a function say(compose): once the controls have rested for a
// moment, the region gets the text compose() returns, so that a screen reader reads where a
// drag ended rather than each of its steps, and a control's input does not wait for words.
function adlReadout(root) {
  var region = root.querySelector(".adl-readout"), timer = null;
  return function (compose) {
    window.clearTimeout(timer);
    timer = window.setTimeout(function () { region.textContent = compose(); }, 200);
  };
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
