// The explorer of adalearn.animation.Explorer: its controls pick a run of the stored grid,
// which is then drawn. The runs are inflated and decoded once; every control only looks up.
// After each change a screen reader hears the runs it changed, with their values.
function adlExplorer(root) {
  var data = JSON.parse(root.querySelector(".adl-data").textContent);
  var inputs = root.querySelectorAll("input, select");
  for (var i = 0; i < inputs.length; i++) inputs[i].disabled = true;
  if (typeof DecompressionStream === "undefined") {
    root.querySelector(".adl-note").textContent =
      "This browser cannot unpack the stored runs (it lacks DecompressionStream); " +
      "the picture shows the first values.";
    return;
  }
  adlInflate(data.blob).then(function (u8) {
    adlExplore(root, data, adlDecodeRuns(data.n, data.q, u8), inputs);
  });
}

function adlExplore(root, data, runs, inputs) {
  function all(sel) { return root.querySelectorAll(sel); }
  var stage = root.querySelector(".adl-stage"), img = stage.querySelector("img"),
    svg = stage.querySelector("svg"), clip = root.querySelector("clipPath rect");
  var paths = all(".adl-path"), halos = all(".adl-halo"), starts = all(".adl-start"),
    heads = all(".adl-head"), crosses = all(".adl-cross"), rows = all(".adl-rule");
  var knobInputs = all(".adl-knob-input"), knobValues = all(".adl-knob-value"),
    knobPlaces = all(".adl-knob .adl-grid");
  var fnMenu = root.querySelector(".adl-fn"), startMenu = root.querySelector(".adl-start-menu");
  var say = adlReadout(root);
  var firstImage = img.getAttribute("src");
  var state = {fn: 0, start: 0, knobs: data.knobs.map(function (k) { return k.index; }),
    lr: data.rules.map(function (r) { return r.lr0; }),
    use: data.rules.map(function () { return true; })};
  // The run of rule j for the controls' values: its index among all stored runs, and its
  // place in the rule's grid (learning rate, shared controls, start).
  function index(j) {
    var rule = data.rules[j], at = [state.lr[j]];
    for (var a = 0; a < rule.knobs.length; a++) at.push(state.knobs[rule.knobs[a]]);
    at.push(state.start);
    var flat = 0;
    for (var d = 0; d < at.length; d++) flat = flat * rule.shape[d] + at[d];
    return {run: rule.offsets[state.fn] + flat, at: at};
  }
  function pathData(i) {
    var out = [], s = runs.first[i], e = s + runs.count[i];
    for (var k = s; k < e; k++) {
      out.push((k === s ? "M" : "L") + runs.xy[2 * k] + " " + runs.xy[2 * k + 1]);
    }
    return out.join("");
  }
  function status(j, found) {
    var i = found.run;
    if (!runs.ran[i]) {
      var notes = data.rules[j].notes;
      for (var n = 0; n < notes.length; n++) {
        if (found.at[notes[n][0]] === notes[n][1]) return "not run: " + notes[n][2];
      }
      return "not run";
    }
    return adlRunStatus(runs.final[i], runs.count[i] - 1, runs.div[i]);
  }
  // Rule j's run in words: "Adam (learning rate 0.1, β₁ 0.9): f = 0.01 after 40 steps".
  function sentence(j) {
    var rule = data.rules[j], found = index(j), i = found.run, values = [];
    if (!state.use[j]) return rule.label + ": hidden";
    if (rule.lr) values.push("learning rate " + adlFormat(rule.lr[state.lr[j]]));
    for (var a = 0; a < rule.knobs.length; a++) {
      var knob = data.knobs[rule.knobs[a]];
      values.push(rule.names[a] + " " + adlFormat(knob.values[state.knobs[rule.knobs[a]]]));
    }
    var who = rule.label + (values.length ? " (" + values.join(", ") + ")" : "");
    if (!runs.ran[i]) return who + ": " + status(j, found);
    return adlRunSentence(who, runs.final[i], runs.count[i] - 1, runs.div[i]);
  }
  function announce(changed) {
    say(function () {
      return changed.map(function (j) { return sentence(j) + "."; }).join(" ");
    });
  }
  function everyRule() { return data.rules.map(function (rule, j) { return j; }); }
  function draw(j) {
    var row = rows[j], found = index(j), i = found.run, shown = state.use[j] && runs.ran[i];
    var d = shown ? pathData(i) : "";
    paths[j].setAttribute("d", d);
    halos[j].setAttribute("d", d);
    var s = runs.first[i], e = s + runs.count[i] - 1;
    if (shown) {
      starts[j].setAttribute("cx", runs.xy[2 * s]);
      starts[j].setAttribute("cy", runs.xy[2 * s + 1]);
    }
    starts[j].setAttribute("visibility", shown ? "visible" : "hidden");
    if (shown && !runs.div[i]) {
      heads[j].setAttribute("cx", runs.xy[2 * e]);
      heads[j].setAttribute("cy", runs.xy[2 * e + 1]);
      heads[j].setAttribute("visibility", "visible");
    } else {
      heads[j].setAttribute("visibility", "hidden");
    }
    if (shown && runs.div[i]) {
      crosses[j].setAttribute("transform",
        "translate(" + runs.exit[2 * i] + " " + runs.exit[2 * i + 1] + ")");
      crosses[j].setAttribute("visibility", "visible");
    } else {
      crosses[j].setAttribute("visibility", "hidden");
    }
    var rule = data.rules[j];
    if (rule.lr) {
      var lr = adlFormat(rule.lr[state.lr[j]]),
        place = (state.lr[j] + 1) + " of " + rule.lr.length;
      row.querySelector(".adl-lr-value").textContent = lr;
      row.querySelector(".adl-grid").textContent = place;
      row.querySelector(".adl-lr").setAttribute("aria-valuetext",
        "learning rate " + lr + ", " + place);
    }
    row.querySelector(".adl-status").textContent = state.use[j] ? status(j, found) : "";
    row.classList.toggle("adl-off", !state.use[j]);
  }
  function drawAll() { for (var j = 0; j < data.rules.length; j++) draw(j); }
  function showKnob(a) {
    var knob = data.knobs[a], value = adlFormat(knob.values[state.knobs[a]]),
      place = (state.knobs[a] + 1) + " of " + knob.values.length;
    knobValues[a].textContent = value;
    knobPlaces[a].textContent = place;
    knobInputs[a].setAttribute("aria-valuetext", knob.label + " " + value + ", " + place);
  }
  function setFunction(f) {
    state.fn = f;
    var spec = data.fns[f], w = spec.size[0], h = spec.size[1];
    img.setAttribute("src", spec.img || firstImage);
    img.setAttribute("alt", spec.alt);
    img.setAttribute("width", w);
    img.setAttribute("height", h);
    stage.style.width = w + "px";
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    clip.setAttribute("x", spec.clip[0]);
    clip.setAttribute("y", spec.clip[1]);
    clip.setAttribute("width", spec.clip[2]);
    clip.setAttribute("height", spec.clip[3]);
  }
  rows.forEach(function (row, j) {
    var lr = row.querySelector(".adl-lr"), use = row.querySelector(".adl-use");
    if (lr) lr.addEventListener("input", function () {
      state.lr[j] = parseInt(lr.value, 10);
      draw(j);
      announce([j]);
    });
    if (use) use.addEventListener("change", function () {
      state.use[j] = use.checked;
      draw(j);
      announce([j]);
    });
  });
  knobInputs.forEach(function (input) {
    var a = parseInt(input.getAttribute("data-knob"), 10);
    input.addEventListener("input", function () {
      state.knobs[a] = parseInt(input.value, 10);
      showKnob(a);
      var changed = everyRule().filter(function (j) {
        return data.rules[j].knobs.indexOf(a) >= 0;
      });
      changed.forEach(draw);
      announce(changed);
    });
  });
  if (fnMenu) fnMenu.addEventListener("change", function () {
    setFunction(parseInt(fnMenu.value, 10));
    drawAll();
    announce(everyRule());
  });
  if (startMenu) startMenu.addEventListener("change", function () {
    state.start = parseInt(startMenu.value, 10);
    drawAll();
    announce(everyRule());
  });
  // The controls may have moved while the runs were unpacked (a reload keeps form values).
  rows.forEach(function (row, j) {
    var lr = row.querySelector(".adl-lr"), use = row.querySelector(".adl-use");
    if (lr) state.lr[j] = parseInt(lr.value, 10);
    if (use) state.use[j] = use.checked;
  });
  knobInputs.forEach(function (input, a) {
    state.knobs[a] = parseInt(input.value, 10);
    showKnob(a);
  });
  if (startMenu) state.start = parseInt(startMenu.value, 10);
  setFunction(fnMenu ? parseInt(fnMenu.value, 10) : 0);
  drawAll();
  for (var n = 0; n < inputs.length; n++) inputs[n].disabled = false;
  root.setAttribute("data-state", "ready");
}
