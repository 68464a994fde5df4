// What the players and the explorers say about a run, in their legends and readouts.

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
