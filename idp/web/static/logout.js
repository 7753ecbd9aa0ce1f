// Front-channel logout: once every client's logout frame has loaded (or after a few seconds at the
// latest), continue to the client's post-logout page, if one was given.
(function () {
  var box = document.querySelector(".frontchannel");
  if (!box) return;
  var frames = box.querySelectorAll("iframe");
  var target = box.getAttribute("data-continue");
  var left = frames.length;
  var gone = false;
  function go() {
    if (gone || !target) return;
    gone = true;
    window.location.assign(target);
  }
  frames.forEach(function (frame) {
    frame.addEventListener("load", function () { left -= 1; if (left <= 0) go(); });
  });
  setTimeout(go, 3000);
})();
