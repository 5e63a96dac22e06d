// The agents' pages: the inbox and a conversation pick up changes without a reload (they poll
// a fragment and swap it in only when its stamp changed, so focus is not lost for nothing),
// the times left count down, a canned reply shows its text, and a form is sent once.
// Every page works without this script.
(function () {
  "use strict";

  function span(ms) {
    var minutes = Math.floor(Math.max(0, ms) / 60000), h = Math.floor(minutes / 60), m = minutes % 60;
    var mm = (m < 10 ? "0" : "") + m;
    if (document.body.dataset.lang === "en") return h ? h + " h " + mm + " min" : m + " min";
    return h ? h + "小时" + mm + "分" : m + "分钟";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-until-ms]").forEach(function (el) {
      var left = parseInt(el.dataset.untilMs, 10) - now;
      if (isNaN(left)) return;
      if (left > 0) {
        el.textContent = span(left);
      } else {
        el.textContent = "⚠ " + (el.dataset.closed || "");
        el.classList.add("closed");
      }
    });
    document.querySelectorAll("[data-since-ms]").forEach(function (el) {
      var since = parseInt(el.dataset.sinceMs, 10);
      if (!isNaN(since)) el.textContent = span(now - since);
    });
  }
  setInterval(tick, 30000);

  // Polls `box`'s fragment; swaps it in when its stamp changed.
  function live(box) {
    var every = Math.max(2, parseInt(box.dataset.poll || "5", 10)) * 1000;
    setInterval(function () {
      fetch(box.dataset.src, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var holder = document.createElement("div");
          holder.innerHTML = html;
          var fresh = holder.querySelector(".conv-fragment");
          if (!fresh || fresh.dataset.stamp === box.dataset.stamp) return;
          box.innerHTML = html;
          box.dataset.stamp = fresh.dataset.stamp;
          var note = document.getElementById("conv-changed");
          if (note) note.hidden = false;
          tick();
        })
        .catch(function () {});
    }, every);
  }
  ["conv-lists", "conv-messages"].forEach(function (id) {
    var box = document.getElementById(id);
    if (box) live(box);
  });

  var canned = document.getElementById("canned");
  var cannedText = document.getElementById("canned-text");
  if (canned && cannedText) {
    canned.addEventListener("change", function () {
      var opt = canned.options[canned.selectedIndex];
      cannedText.textContent = opt && opt.dataset.text ? opt.dataset.text : "";
    });
  }

  // A second click while the first is on its way would send the citizen the reply twice.
  document.querySelectorAll("form.once").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (form.dataset.sent) {
        e.preventDefault();
        return;
      }
      form.dataset.sent = "1";
      var button = form.querySelector("button[type=submit]");
      if (button) button.setAttribute("aria-disabled", "true");
    });
  });
})();
