// transportd admin center: the little script the pages use. Everything
// works without it; it only asks before a removal.
"use strict";
document.addEventListener("submit", function (ev) {
  var f = ev.target;
  var q = f && f.getAttribute && f.getAttribute("data-confirm");
  if (q && !window.confirm(q)) {
    ev.preventDefault();
  }
});
