// The basin map of adalearn.animation.Basins: one byte per start and learning rate (the class
// of the run: a minimum, diverged or still moving), painted into a canvas as the learning-rate
// slider moves, with the share of each class, which screen readers hear.
function adlBasins(root) {
  var data = JSON.parse(root.querySelector(".adl-data").textContent);
  var slider = root.querySelector(".adl-lr");
  slider.disabled = true;
  if (typeof DecompressionStream === "undefined") return;
  adlInflate(data.blob).then(function (classes) { adlPaintBasins(root, data, classes); });
}

function adlPaintBasins(root, data, classes) {
  var n = data.n, cells = n * n, K = data.colors.length;
  var slider = root.querySelector(".adl-lr"), value = root.querySelector(".adl-lr-value"),
    place = root.querySelector(".adl-grid"), shares = root.querySelectorAll(".adl-share"),
    say = adlReadout(root);
  var image = root.querySelector(".adl-map"), canvas = document.createElement("canvas");
  canvas.width = n;
  canvas.height = n;
  canvas.className = "adl-map-live";
  canvas.setAttribute("style", image.getAttribute("style"));
  canvas.setAttribute("role", "img");
  image.parentNode.replaceChild(canvas, image);
  var context = canvas.getContext("2d"), pixels = context.createImageData(n, n);
  var rgb = data.colors.map(function (c) {
    return [1, 3, 5].map(function (k) { return parseInt(c.slice(k, k + 2), 16); });
  });
  // "learning rate 0.01: 24.1 % reach (3, 2), ..., 2.0 % diverged, 0.5 % still moving ..."
  function words(l, percents) {
    return "learning rate " + adlFormat(data.lr[l]) + ": " + percents.map(function (p, k) {
      return p + " " + data.classes[k];
    }).join(", ");
  }
  function show(l) {
    var counts = new Array(K).fill(0), offset = l * cells, percents = [];
    for (var i = 0; i < cells; i++) {
      var c = classes[offset + i], color = rgb[c];
      counts[c]++;
      pixels.data[4 * i] = color[0];
      pixels.data[4 * i + 1] = color[1];
      pixels.data[4 * i + 2] = color[2];
      pixels.data[4 * i + 3] = 255;
    }
    context.putImageData(pixels, 0, 0);
    value.textContent = adlFormat(data.lr[l]);
    place.textContent = (l + 1) + " of " + data.lr.length;
    slider.setAttribute("aria-valuetext", "learning rate " + value.textContent + ", " +
      place.textContent);
    for (var k = 0; k < K; k++) {
      percents.push(adlFixed(100 * (counts[k] / cells), 1) + " %");
      shares[k].textContent = percents[k];
    }
    canvas.setAttribute("aria-label", words(l, percents));
    root.setAttribute("data-lr", String(l));
    return percents;
  }
  slider.addEventListener("input", function () {
    var l = parseInt(slider.value, 10);
    var percents = show(l);
    say(function () { return words(l, percents) + "."; });
  });
  show(parseInt(slider.value, 10));
  slider.disabled = false;
  root.setAttribute("data-state", "ready");
}

// Python's format(v, ".<decimals>f"), for |v| · 10^(decimals + 1) below 2^53.
function adlFixed(v, decimals) {
  var special = adlSpecial(v);
  if (special !== null) return special;
  var sign = v < 0 || 1 / v < 0 ? "-" : "", x = Math.abs(v);
  var digits = x.toFixed(decimals).replace(".", "");
  var D = +x.toFixed(decimals + 1).replace(".", "");
  if (x > 0 && adlHalfway(x, D, -decimals - 1)) digits = String(adlEven(D));
  digits = digits.padStart(decimals + 1, "0");
  var cut = digits.length - decimals;
  return sign + digits.slice(0, cut) + (decimals ? "." + digits.slice(cut) : "");
}
