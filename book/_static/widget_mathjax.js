// ipywidgets typesets labels with MathJax 2's MathJax.Hub.Queue; the book loads MathJax 3.
(() => {
  const hub = {
    Queue: (command) => {
      const element = command[2];
      const mathjax = window.MathJax;
      if (mathjax && mathjax.startup && mathjax.typesetPromise) {
        mathjax.startup.promise.then(() => mathjax.typesetPromise([element]));
      }
    },
  };
  let current = window.MathJax;
  const withHub = (value) => {
    if (value && typeof value === "object" && !("Hub" in value)) {
      Object.defineProperty(value, "Hub", {value: hub, enumerable: false});
    }
    return value;
  };
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    get: () => current,
    set: (value) => { current = withHub(value); },
  });
  withHub(current);
})();
