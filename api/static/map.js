/*
 * camnet map: one commune's cameras, view sectors, coverage gaps and key areas.
 *
 * Configured by the data attributes of #map (no inline script); the data comes from
 * /api/v1 on this server with the session cookie. Nothing else is fetched, except the
 * tiles of data-tile-url when the server sets one: without it the layers are drawn on a
 * plain background and the map zooms to them. Sets data-ready="1" and
 * data-cameras="<markers>" on #map once everything is drawn (a browser test waits on it).
 */
(function () {
  "use strict";

  var el = document.getElementById("map");
  var select = document.getElementById("commune-select");
  if (select && select.form) {
    select.addEventListener("change", function () { select.form.submit(); });
  }
  if (!el || !window.L) {
    return;
  }
  var cfg = el.dataset;
  var labels = JSON.parse(cfg.labels || "{}");
  var statusLine = document.getElementById("map-status");

  function label(key) {
    return labels[key] || key.split(".").pop();
  }

  var STATUS_FILL = {
    ok: "#2e7d32",
    degraded: "#f9a825",
    down: "#c62828",
    unknown: "#9e9e9e",
    never_reported: "#ffffff"
  };
  var AREA_STYLE = {
    main_road: { color: "#37474f", weight: 5, opacity: 0.6 },
    village_border: { color: "#6a1b9a", weight: 2, opacity: 0.8, dashArray: "2 6" },
    hotspot: { color: "#ad1457", weight: 2, fillColor: "#ec407a", fillOpacity: 0.25 },
    area: { color: "#1565c0", weight: 1, fillColor: "#1e88e5", fillOpacity: 0.08 }
  };
  var GAP_STYLE = {
    no_camera: { color: "#d32f2f", weight: 4, opacity: 0.9, dashArray: "8 6", fillOpacity: 0.2 },
    repairable: { color: "#ef6c00", weight: 4, opacity: 0.9, fillOpacity: 0.25 }
  };
  var SECTOR_ON = { color: "#2e7d32", weight: 1, fillColor: "#66bb6a", fillOpacity: 0.18 };
  var SECTOR_OFF = {
    color: "#757575", weight: 1, dashArray: "3 4", fillColor: "#9e9e9e", fillOpacity: 0.08
  };

  var map = L.map(el, { attributionControl: Boolean(cfg.tileUrl), zoomSnap: 0.5 });
  if (cfg.tileUrl) {
    map.attributionControl.setPrefix(false);
    L.tileLayer(cfg.tileUrl, { maxZoom: 19, attribution: cfg.tileAttribution || "" }).addTo(map);
  } else {
    el.classList.add("no-tiles");
  }
  L.control.scale({ imperial: false }).addTo(map);

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(url + ": HTTP " + response.status);
        }
        return response.json();
      });
  }

  function node(tag, text, className) {
    var e = document.createElement(tag);
    if (text) { e.textContent = text; }
    if (className) { e.className = className; }
    return e;
  }

  function cameraPopup(cam) {
    var box = node("div", "", "popup");
    box.appendChild(node("strong", cam.name || cam.id));
    box.appendChild(node("div", cam.id, "muted"));
    box.appendChild(node("div", label("status." + cam.status), "badge status-" + cam.status));
    var problems = cam.faults.slice();
    if (cam.cause) { problems.push(cam.cause); }
    if (problems.length) { box.appendChild(node("div", problems.join(", "))); }
    var link = node("a", label("legend.open_camera"));
    link.href = cfg.cameraPage + encodeURIComponent(cam.id);
    box.appendChild(node("div", "")).appendChild(link);
    return box;
  }

  function drawCameras(cameras, layer) {
    var drawn = 0;
    var unplaced = document.getElementById("unplaced");
    cameras.forEach(function (cam) {
      if (cam.lat === null || cam.lon === null) {
        if (unplaced) {
          var item = node("li", "");
          var a = node("a", (cam.name || cam.id) + " (" + label("status." + cam.status) + ")");
          a.href = cfg.cameraPage + encodeURIComponent(cam.id);
          item.appendChild(a);
          unplaced.appendChild(item);
          unplaced.hidden = false;
        }
        return;
      }
      var never = cam.status === "never_reported";
      L.circleMarker([cam.lat, cam.lon], {
        radius: 8,
        color: never ? "#000000" : "#212121",
        weight: never ? 3 : 1,
        fillColor: STATUS_FILL[cam.status] || STATUS_FILL.unknown,
        fillOpacity: 1,
        className: "camera status-" + cam.status
      }).bindPopup(cameraPopup(cam)).bindTooltip(cam.name || cam.id).addTo(layer);
      drawn += 1;
    });
    return drawn;
  }

  function drawAreas(data, layer) {
    L.geoJSON(data, {
      style: function (f) { return AREA_STYLE[f.properties.kind] || AREA_STYLE.area; },
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, L.extend({ radius: 9 }, AREA_STYLE.hotspot));
      },
      onEachFeature: function (f, lyr) {
        var p = f.properties;
        lyr.bindTooltip((p.name || p.id || "") + " · " + label("kind." + p.kind));
      }
    }).addTo(layer);
  }

  function drawCoverage(data, sectors, gaps) {
    data.features.forEach(function (f) {
      var p = f.properties;
      if (p.feature === "sector") {
        L.geoJSON(f, { style: p.working ? SECTOR_ON : SECTOR_OFF, interactive: false })
          .addTo(sectors);
        return;
      }
      var style = GAP_STYLE[p.tag] || GAP_STYLE.no_camera;
      L.geoJSON(f, {
        style: style,
        pointToLayer: function (g, latlng) {
          return L.circleMarker(latlng, L.extend({ radius: 11, fill: false }, style));
        }
      }).bindTooltip(
        (p.name || p.area_id || "") + " · " +
        label(p.tag === "repairable" ? "legend.gap_repair" : "legend.gap_none")
      ).addTo(gaps);
    });
  }

  function swatch(style, round) {
    var s = node("span", "", "swatch" + (round ? " round" : ""));
    s.style.borderColor = style.color;
    s.style.borderStyle = style.dashArray ? "dashed" : "solid";
    s.style.background = style.fillColor || "transparent";
    return s;
  }

  function legend() {
    var control = L.control({ position: "bottomright" });
    control.onAdd = function () {
      var box = node("div", "", "map-legend");
      box.appendChild(node("strong", label("legend.title")));
      function row(sw, text) {
        var r = node("div", "", "row");
        r.appendChild(sw);
        r.appendChild(node("span", text));
        box.appendChild(r);
      }
      Object.keys(STATUS_FILL).forEach(function (status) {
        var never = status === "never_reported";
        row(swatch({ color: never ? "#000" : "#212121", fillColor: STATUS_FILL[status] }, true),
          label("status." + status));
      });
      row(swatch(SECTOR_ON), label("legend.sector"));
      row(swatch(SECTOR_OFF), label("legend.sector_off"));
      row(swatch(GAP_STYLE.no_camera), label("legend.gap_none"));
      row(swatch(GAP_STYLE.repairable), label("legend.gap_repair"));
      row(swatch(AREA_STYLE.main_road), label("legend.road"));
      row(swatch(AREA_STYLE.village_border), label("legend.border"));
      row(swatch(AREA_STYLE.hotspot, true), label("legend.hotspot"));
      row(swatch(AREA_STYLE.area), label("legend.area"));
      L.DomEvent.disableClickPropagation(box);
      return box;
    };
    return control;
  }

  var areas = L.featureGroup().addTo(map);
  var sectors = L.featureGroup().addTo(map);
  var gaps = L.featureGroup().addTo(map);
  var cameras = L.featureGroup().addTo(map);
  var errors = [];

  function soft(promise) {
    return promise.catch(function (err) { errors.push(String(err.message || err)); return null; });
  }

  Promise.all([
    soft(getJSON(cfg.areasUrl)),
    soft(getJSON(cfg.coverageUrl)),
    soft(getJSON(cfg.camerasUrl))
  ]).then(function (results) {
    if (results[0]) { drawAreas(results[0], areas); }
    if (results[1]) { drawCoverage(results[1], sectors, gaps); }
    var count = results[2] ? drawCameras(results[2], cameras) : 0;
    cameras.bringToFront();
    var overlays = {};
    overlays[label("legend.area")] = areas;
    overlays[label("legend.sector")] = sectors;
    overlays[label("legend.gap_none")] = gaps;
    overlays[label("legend.title")] = cameras;
    L.control.layers(null, overlays, { collapsed: true }).addTo(map);
    legend().addTo(map);
    var bounds = L.latLngBounds([]);
    [areas, sectors, gaps, cameras].forEach(function (g) {
      var b = g.getBounds();
      if (b.isValid()) { bounds.extend(b); }
    });
    if (bounds.isValid()) {
      map.fitBounds(bounds, { padding: [24, 24], maxZoom: 18 });
    } else {
      map.setView([16.0, 106.0], 6);  // Viet Nam, when the commune has nothing placed yet
    }
    el.dataset.cameras = String(count);
    if (statusLine) {
      statusLine.textContent = errors.length
        ? label("legend.error") + " " + errors.join("; ")
        : (bounds.isValid() ? "" : label("legend.no_data"));
      statusLine.hidden = !statusLine.textContent;
    }
    el.dataset.ready = "1";
  });
})();
