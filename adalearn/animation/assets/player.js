// The player of adalearn.animation.Player: play/pause, a step slider and a speed menu draw
// every run up to the chosen step. Iterates are stored in tenths of a CSS pixel, each as its
// difference from the previous one, null where a 3-D path leaves the surface's window. It never
// starts by itself: a reader who asks for reduced motion sees no movement until pressing play.
function adlPlayer(root) {
  var data = JSON.parse(root.querySelector(".adl-data").textContent);
  var T = data.steps, runs = data.runs;
  // The iterates are stored as differences from the previous point: add them up once.
  runs.forEach(function (r) {
    var x = 0, y = 0;
    for (var i = 0; i < r.p.length; i += 2) {
      if (r.p[i] === null) continue;
      x += r.p[i];
      y += r.p[i + 1];
      r.p[i] = x;
      r.p[i + 1] = y;
    }
  });
  function all(sel) { return root.querySelectorAll(sel); }
  var button = root.querySelector(".adl-play"), icon = button.querySelector(".adl-icon"),
    label = button.querySelector(".adl-play-label"), slider = root.querySelector(".adl-slider"),
    speed = root.querySelector(".adl-speed"), counter = root.querySelector(".adl-step"),
    say = adlReadout(root);
  var paths = all(".adl-path"), halos = all(".adl-halo"), heads = all(".adl-head"),
    crosses = all(".adl-cross"), values = all(".adl-value");
  function pathData(r, k) {
    var out = [], up = true;
    for (var i = 0; i <= k; i++) {
      var x = r.p[2 * i], y = r.p[2 * i + 1];
      if (x === null || y === null) { up = true; continue; }
      out.push((up ? "M" : "L") + x / 10 + " " + y / 10);
      up = false;
    }
    return out.join("");
  }
  var step = T, playing = false, last = null, carry = 0;
  function show(t) {
    step = t;
    slider.value = t;
    slider.setAttribute("aria-valuetext", "step " + t + " of " + T);
    counter.textContent = t + " / " + T;
    for (var j = 0; j < runs.length; j++) {
      var r = runs[j], k = Math.min(t, r.stop), d = pathData(r, k);
      paths[j].setAttribute("d", d);
      halos[j].setAttribute("d", d);
      var x = r.p[2 * k], y = r.p[2 * k + 1], gone = r.div && t > r.stop;
      if (x === null || y === null || gone) {
        heads[j].setAttribute("visibility", "hidden");
      } else {
        heads[j].setAttribute("cx", x / 10);
        heads[j].setAttribute("cy", y / 10);
        heads[j].setAttribute("visibility", "visible");
      }
      crosses[j].setAttribute("visibility", gone ? "visible" : "hidden");
      values[j].textContent = adlRunStatus(r.v[k], r.stop, gone) +
        (t > r.stop && !gone ? " (ended at step " + r.stop + ")" : "");
    }
  }
  // What a screen reader announces once the picture stops changing: the step, and each run.
  function announce() {
    say(function () {
      var words = ["step " + step + " of " + T + "."];
      for (var j = 0; j < runs.length; j++) {
        var r = runs[j], k = Math.min(step, r.stop);
        words.push(adlRunSentence(r.who, r.v[k], k, r.div && step > r.stop) + ".");
      }
      return words.join(" ");
    });
  }
  function stop() {
    playing = false;
    icon.textContent = "\u25B6";
    label.textContent = "Play";
  }
  function pause() {
    stop();
    announce();
  }
  function frame(now) {
    if (!playing) return;
    if (last !== null) carry += (now - last) / 1000 * data.fps * parseFloat(speed.value);
    last = now;
    var n = Math.floor(carry);
    if (n > 0) { carry -= n; show(Math.min(step + n, T)); }
    if (step >= T) { pause(); return; }
    window.requestAnimationFrame(frame);
  }
  function play() {
    if (step >= T) show(0);
    playing = true;
    last = null;
    carry = 0;
    icon.textContent = "\u275A\u275A";
    label.textContent = "Pause";
    window.requestAnimationFrame(frame);
  }
  button.addEventListener("click", function () { if (playing) pause(); else play(); });
  slider.addEventListener("input", function () {
    stop();
    show(parseInt(slider.value, 10));
    announce();
  });
  show(T);
  root.setAttribute("data-state", "ready");
}
