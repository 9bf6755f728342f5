// The review desk's keyboard shortcuts; every action also works without this file.
// a: accept, s: set class, x: not a record, n: next. Ignored while typing in a field.
(function () {
  "use strict";
  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || target.isContentEditable;
  }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) {
      return;
    }
    var accept = document.getElementById("accept-form");
    var next = document.getElementById("next-link");
    var key = event.key.toLowerCase();
    if (key === "a" && accept) {
      event.preventDefault();
      accept.requestSubmit();
    } else if (key === "s") {
      event.preventDefault();
      document.getElementById("set-class").focus();
    } else if (key === "x" && document.getElementById("junk-reason")) {
      event.preventDefault();
      document.getElementById("junk-reason").focus();
    } else if (key === "n" && next) {
      event.preventDefault();
      window.location.href = next.href;
    }
  });
})();
