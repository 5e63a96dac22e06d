// The console's little JavaScript: new tickets without a reload, the maps (Leaflet, vendored),
// and filling the public update from a response template. Pages work without it.
(function () {
  "use strict";

  // The queue polls its stamp and swaps in fresh results when the tickets changed.
  var results = document.getElementById("queue-results");
  if (results) {
    var every = Math.max(2, parseInt(results.dataset.poll || "15", 10)) * 1000;
    var query = results.dataset.query || "";
    setInterval(function () {
      fetch("/console/queue/stamp?" + query, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (!s || s.stamp === results.dataset.stamp) return;
          return fetch("/console/queue?partial=1&" + query, { credentials: "same-origin" })
            .then(function (r) { return r.text(); })
            .then(function (html) {
              results.innerHTML = html;
              results.dataset.stamp = s.stamp;
              var note = document.getElementById("new-tickets");
              if (note) note.hidden = false;
            });
        })
        .catch(function () {});
    }, every);
  }

  // A response template fills the public update, which stays editable.
  var template = document.getElementById("template");
  if (template) {
    template.addEventListener("change", function () {
      var opt = template.options[template.selectedIndex];
      var text = document.getElementById("public-update");
      if (opt && opt.dataset.text !== undefined && text) text.value = opt.dataset.text;
      var st = document.getElementById("new-state");
      if (opt && opt.dataset.state && st) st.value = opt.dataset.state;
    });
  }

  if (typeof L === "undefined") return;
  var colours = { open: "#a4140b", fixed: "#0f6b2f", closed: "#4a5360" };

  function baseMap(el) {
    var map = L.map(el, { zoomControl: true, attributionControl: !!el.dataset.tiles });
    if (el.dataset.tiles) {
      L.tileLayer(el.dataset.tiles, { attribution: el.dataset.attribution || "", maxZoom: 19 }).addTo(map);
    }
    var crs = el.dataset.tiles ? "gcj02" : "wgs84";
    // Outlines arrive after the pins at times; their own pane keeps them under the pins either way.
    map.createPane("districts");
    map.getPane("districts").style.zIndex = 350;
    fetch("/console/districts.json", { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (geo) {
        L.geoJSON(geo, {
          pane: "districts",
          style: { color: "#10324f", weight: 1.5, fillColor: "#9fc3e7", fillOpacity: 0.15 },
          onEachFeature: function (f, layer) {
            var lang = document.body.dataset.lang;
            layer.bindTooltip(lang === "en" ? f.properties.name_en : f.properties.name_zh);
          }
        }).addTo(map);
      });
    return { map: map, crs: crs };
  }

  var queueMap = document.getElementById("queue-map");
  if (queueMap) {
    var qm = baseMap(queueMap);
    var map = qm.map;
    var pins = L.layerGroup().addTo(map);
    map.setView([30.66, 104.07], 11);
    var load = function () {
      var b = map.getBounds();
      var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (x) { return x.toFixed(5); }).join(",");
      fetch("/console/map.json?coord=" + qm.crs + "&zoom=" + map.getZoom() + "&bbox=" + bbox, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : { features: [] }; })
        .then(function (fc) {
          pins.clearLayers();
          fc.features.forEach(function (f) {
            var c = f.geometry.coordinates, p = f.properties;
            var at = [c[1], c[0]];
            if (p.kind === "cluster") {
              var m = L.circleMarker(at, { radius: 10 + Math.min(20, Math.sqrt(p.count) * 2), color: "#10324f", fillOpacity: 0.5 });
              m.bindTooltip(String(p.count), { permanent: true, direction: "center", className: "pin-label" });
              m.on("click", function () { map.setView(at, Math.min(map.getZoom() + 2, 18)); });
              pins.addLayer(m);
            } else {
              var colour = p.in_scope ? (colours[p.state] || "#0b57a4") : "#8a939c";
              var pin = L.circleMarker(at, { radius: 8, color: colour, fillOpacity: 0.8, className: "pin pin-" + f.id });
              pin.bindTooltip(f.id + " · " + p.category + " · " + p.state);
              if (p.in_scope) {
                pin.on("click", function () { window.location.href = "/console/tickets/" + encodeURIComponent(f.id); });
              }
              pins.addLayer(pin);
            }
          });
          queueMap.dataset.loaded = String(fc.features.length);
        });
    };
    map.on("moveend", load);
    load();
  }

  var ticketMap = document.getElementById("ticket-map");
  if (ticketMap) {
    var tm = baseMap(ticketMap);
    var at = [parseFloat(ticketMap.dataset.lat), parseFloat(ticketMap.dataset.lon)];
    tm.map.setView(at, 15);
    var marker = L.circleMarker(at, { radius: 9, color: "#a4140b", fillOpacity: 0.9 }).addTo(tm.map);
    // Where the pin landed, for the browser tests (the datum follows the tiles).
    var ll = marker.getLatLng();
    ticketMap.dataset.pin = ll.lat + "," + ll.lng;
  }
})();
