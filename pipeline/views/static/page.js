/* statefire's interactive view.
 *
 * Draws the one JSON document that pipeline/views/html.py writes into the page
 * (the view models of pipeline/views/model.py at three levels) with
 * cytoscape.js and its dagre layout. The Python side decides what a box and an
 * edge are; this script only chooses which boxes to show (level, expanded and
 * collapsed boxes), lifts the finest level's edges onto them, and handles
 * search, focus, the side panel, replay of a trace and live updates.
 *
 * Markers for tests and tools, on <body>: data-nodes (boxes drawn, set once
 * drawn), data-edges, data-level, data-selected (the selected box id),
 * data-matches (search matches), data-updates (live snapshots applied),
 * data-replay (the replayed entry index); on the panel: data-box (the box shown),
 * and data-path on each variable's row. window.statefireView = {cy, ui}
 * gives tests and tools the graph (positions to click) and the view's state.
 */
(function () {
  "use strict";

  var doc = JSON.parse(document.getElementById("statefire-document").textContent);
  var LEVELS = ["containers", "nodes", "variables"];
  var body = document.body;
  var $ = function (id) { return document.getElementById(id); };

  // Indexes -----------------------------------------------------------------
  var kids = {};  // "level:id" -> the boxes of the next finer level that fold into it
  LEVELS.slice(1).forEach(function (fine, i) {
    var homes = doc.homes[fine] || {};
    doc.levels[fine].boxes.forEach(function (box) {
      var home = homes[box.id];
      if (home === undefined) return;
      var key = LEVELS[i] + ":" + home;
      (kids[key] = kids[key] || []).push(box);
    });
  });
  var byId = {};  // level -> Map of box id -> box
  LEVELS.forEach(function (lv) {
    byId[lv] = new Map();
    doc.levels[lv].boxes.forEach(function (box) { box.level = lv; byId[lv].set(box.id, box); });
  });
  var writerKeys = doc.writers || {};  // a trace's writer label -> graph key
  var subIndex = {};  // "path|subscriber|callback" -> the Sub objects to update live
  function indexSub(sub) {
    var key = sub.path + "|" + sub.subscriber + "|" + sub.callback;
    (subIndex[key] = subIndex[key] || []).push(sub);
  }
  Object.keys(doc.variables).forEach(function (p) { doc.variables[p].subscribers.forEach(indexSub); });
  LEVELS.forEach(function (lv) {
    doc.levels[lv].boxes.forEach(function (b) { b.subscriptions.forEach(indexSub); });
  });

  var ui = {
    level: LEVELS.indexOf(doc.start.level) >= 0 ? doc.start.level : "nodes",
    open: new Set(),     // "level:id" of expanded boxes
    closed: new Set(),   // "level:id" of coarser boxes drawn in place of what folds into them
    selected: null,      // id of the selected box
    depth: doc.start.depth || 2,
    query: "",
    replay: -1,          // index into doc.entries, -1: not replaying
    shown: new Map(),    // id -> {box, tier} of the boxes drawn
    values: {},          // path -> value shown (live or replayed)
  };

  // Which boxes are drawn ----------------------------------------------------
  function computeShown() {
    var shown = new Map();
    var base = LEVELS.indexOf(ui.level);
    function add(tier, box) {
      var key = LEVELS[tier] + ":" + box.id;
      if (tier < 2 && ui.open.has(key) && kids[key]) {
        kids[key].forEach(function (child) { add(tier + 1, child); });
      } else if (!shown.has(box.id)) {
        shown.set(box.id, { box: box, tier: tier });
      }
    }
    doc.levels[ui.level].boxes.forEach(function (box) {
      var up = collapsedInto(base, box.id);
      if (up === null) add(base, box);
      else if (!shown.has(up.id)) shown.set(up.id, { box: up, tier: LEVELS.indexOf(up.level) });
    });
    return shown;
  }

  // The coarsest collapsed box a box of the given tier folds into, or null.
  function collapsedInto(tier, id) {
    var found = null, cur = id;
    for (var t = tier; t > 0; t--) {
      cur = (doc.homes[LEVELS[t]] || {})[cur];
      if (cur == null) break;
      if (ui.closed.has(LEVELS[t - 1] + ":" + cur)) found = byId[LEVELS[t - 1]].get(cur);
    }
    return found || null;
  }

  function parentOf(entry, shown) {
    var p = entry.box.parent;
    if (p != null && shown.has(p) && shown.get(p).tier === entry.tier) return p;
    if (entry.tier > 0) {
      var home = (doc.homes[LEVELS[entry.tier]] || {})[entry.box.id];
      if (home != null && home !== entry.box.id && shown.has(home)) return home;
    }
    return p != null && shown.has(p) ? p : null;
  }

  // The drawn box a box id of a finer level falls in (null: not drawn).
  function resolve(id, tier, shown) {
    var cur = id;
    for (var t = tier; t >= 0; t--) {
      var e = shown.get(cur);
      if (e && e.tier === t) return cur;
      if (t === 0) return null;
      cur = (doc.homes[LEVELS[t]] || {})[cur];
      if (cur == null) return null;
    }
    return null;
  }

  function varName(path) {
    var v = doc.variables[path];
    return v ? v.name : path.slice(path.lastIndexOf(".") + 1);
  }

  function edgeLabel(edge) {
    var names = edge.variables.map(varName);
    var text = names.slice(0, 2).join(", ") + (names.length > 2 ? " +" + (names.length - 2) : "");
    if (edge.filters.length) text += " [" + edge.filters.map(shortFilter).join("; ") + "]";
    if (edge.kind === "writes" && edge.observed && !edge.declared) text += " (observed)";
    return text;
  }

  // What an edge says without a selection (as the picture): the variable and the
  // filter of a filtered trigger, "(observed)" on an observed-only write.
  function shortLabel(edge) {
    var text = "";
    if (edge.filters.length) {
      var names = edge.variables.map(varName);
      text = names[0] + (names.length > 1 ? " +" + (names.length - 1) : "") +
        " [" + edge.filters.map(shortFilter).join("; ") + "]";
    }
    if (edge.kind === "writes" && edge.observed && !edge.declared) text += " (observed)";
    return text.trim();
  }

  function shortFilter(f) { var i = f.indexOf(" ("); return i > 0 ? f.slice(0, i) : f; }

  function computeEdges(shown) {
    if (ui.open.size === 0 && ui.closed.size === 0) {
      return doc.levels[ui.level].edges.filter(function (e) {
        return shown.has(e.source) && shown.has(e.target);
      });
    }
    var merged = new Map();
    doc.levels.variables.edges.forEach(function (e) {
      var s = resolve(e.source, 2, shown), t = resolve(e.target, 2, shown);
      if (s == null || t == null || s === t) return;
      var key = s + "->" + t + ":" + e.kind;
      var m = merged.get(key);
      if (!m) {
        m = { id: key, source: s, target: t, kind: e.kind, variables: [], filters: [], count: 0,
              declared: false, observed: false, fired: 0 };
        merged.set(key, m);
      }
      m.count += e.count;
      m.fired += e.fired;
      m.declared = m.declared || e.declared;
      m.observed = m.observed || e.observed;
      e.variables.forEach(function (v) { if (m.variables.indexOf(v) < 0) m.variables.push(v); });
      e.filters.forEach(function (f) { if (m.filters.indexOf(f) < 0) m.filters.push(f); });
    });
    var out = [];
    merged.forEach(function (m) { m.label = edgeLabel(m); out.push(m); });
    return out;
  }

  // Labels --------------------------------------------------------------------
  function cut(text, width) {
    text = String(text);
    return text.length <= width ? text : text.slice(0, width - 3) + "...";
  }

  function valueOf(path) {
    if (ui.values[path] !== undefined) return ui.values[path];
    var v = doc.variables[path];
    return v ? v.value : "";
  }

  function linkedPaths(edges) {
    var linked = new Set();
    edges.forEach(function (e) { e.variables.forEach(function (p) { linked.add(p); }); });
    return linked;
  }

  var MAX_LINES = 3;  // variable lines in a folded box (traced ones first, then linked ones)
  // The first view of a level never zooms out below this (text stays readable at the
  // nodes level; the variables level is for searching and zooming, so it starts wider).
  var MIN_ZOOM = { containers: 0.95, nodes: 0.95, variables: 0.45 };

  function boxLabel(entry, compound, linked) {
    var box = entry.box;
    if (box.kind === "variable") {
      return box.label + "\n" + cut(valueOf(box.id), 28);
    }
    var title = box.kind === "callback" ? box.label.replace(" (", "\n(") : box.label;
    if (compound) return title;
    var lines = [title];
    if (box.members.length) lines.push(box.members.length + (box.kind === "callback" ? " callbacks" : " nodes"));
    var paths = box.paths.slice();
    var traced = paths.filter(function (p) { var v = doc.variables[p]; return v && v.trace; });
    var rest = paths.filter(function (p) { return traced.indexOf(p) < 0; });
    rest.sort(function (a, b) { return (linked.has(b) ? 1 : 0) - (linked.has(a) ? 1 : 0); });
    var pick = traced.concat(rest).slice(0, MAX_LINES);
    pick.forEach(function (p) {
      var name = box.members.length ? p.slice(p.indexOf(".") + 1) : varName(p);
      lines.push(cut(name + " = " + valueOf(p), 36));
    });
    var more = paths.length - pick.length + (box.hidden || 0);
    if (more > 0) lines.push("+" + more + " more");
    return lines.join("\n");
  }

  function boxSize(label) {
    var lines = label.split("\n");
    var width = 0;
    lines.forEach(function (l) { width = Math.max(width, l.length); });
    return { w: Math.max(60, width * 7.6 + 20), h: Math.max(28, lines.length * 16 + 12) };
  }

  // Drawing -------------------------------------------------------------------
  var cy = null;
  var style = [
    { selector: "node", style: {
      "shape": "round-rectangle", "label": "data(label)", "text-wrap": "wrap",
      "text-valign": "center", "text-halign": "center",
      "font-family": "ui-monospace, Menlo, Consolas, monospace", "text-justification": "left", "font-size": 12.5,
      "width": "data(w)", "height": "data(h)", "background-color": "#ffffff",
      "border-width": 1.5, "border-color": "#6e7781", "color": "#1f2328" } },
    { selector: "node.node", style: { "background-color": "#ddf4ff", "border-color": "#0969da" } },
    { selector: "node.callback", style: { "background-color": "#fbefff", "border-color": "#8250df" } },
    { selector: "node.container", style: { "background-color": "#f6f8fa", "border-color": "#8c959f" } },
    { selector: "node.variable", style: { "corner-radius": 10 } },
    { selector: ":parent", style: {
      "text-valign": "top", "text-halign": "center", "font-weight": "bold", "font-size": 12,
      "background-opacity": 0.45, "padding": 12, "border-style": "solid" } },
    { selector: "node.traced", style: { "background-color": "#fff8c5", "border-color": "#bf8700",
      "border-width": 2.5 } },
    { selector: "node.unchanged", style: { "border-style": "dashed" } },
    { selector: "node.running", style: { "border-color": "#cf222e", "border-width": 4 } },
    { selector: "node.match", style: { "border-color": "#bf3989", "border-width": 4 } },
    { selector: "node.changed", style: { "background-color": "#dafbe1" } },
    { selector: "node.replay-set", style: { "background-color": "#ffd8b5", "border-color": "#bc4c00",
      "border-width": 4 } },
    { selector: "node.replay-writer", style: { "border-color": "#cf222e", "border-width": 4,
      "border-style": "double" } },
    { selector: "node:selected", style: { "border-color": "#0969da", "border-width": 4,
      "overlay-opacity": 0 } },
    { selector: "edge", style: {
      "curve-style": "bezier", "target-arrow-shape": "triangle", "width": 1.5,
      "line-color": "#8c959f", "target-arrow-color": "#8c959f", "arrow-scale": 0.9,
      "font-size": 11, "text-background-color": "#ffffff", "text-background-opacity": 0.85,
      "text-background-padding": 1, "color": "#424a53", "text-rotation": "none" } },
    { selector: "edge.triggers", style: { "line-color": "#0969da", "target-arrow-color": "#0969da" } },
    { selector: "edge[short]", style: { "label": "data(short)" } },
    { selector: "edge.writes", style: { "line-color": "#1a7f37", "target-arrow-color": "#1a7f37" } },
    { selector: "edge.observed", style: { "line-style": "dashed" } },
    { selector: "edge.reads", style: { "line-style": "dotted" } },
    { selector: "edge.orders", style: { "line-color": "#d0d7de", "target-arrow-color": "#d0d7de",
      "line-style": "dashed", "width": 1 } },
    { selector: "edge.fired", style: { "width": 3 } },
    { selector: "edge.near", style: { "width": 2.5 } },
    { selector: "edge.touch", style: { "label": "data(label)", "z-index": 10 } },
    { selector: ".faded", style: { "opacity": 0.15 } },
  ];

  function elements(shown, edges) {
    var linked = linkedPaths(edges);
    var parents = new Set();
    var entries = [];
    shown.forEach(function (entry, id) {
      var parent = parentOf(entry, shown);
      if (parent != null) parents.add(parent);
      entries.push([id, entry, parent]);
    });
    var els = [];
    entries.forEach(function (item) {
      var id = item[0], entry = item[1], box = entry.box;
      var label = boxLabel(entry, parents.has(id), linked);
      var size = boxSize(label);
      var classes = [box.kind];
      var tr = box.trace;
      if (tr && (tr.sets || tr.fired || tr.ran)) classes.push("traced");
      if (tr && tr.sets && !tr.changes && box.kind === "variable") classes.push("unchanged");
      if (tr && tr.running) classes.push("running");
      els.push({ group: "nodes", classes: classes.join(" "),
                 data: { id: id, parent: item[2], label: label, w: size.w, h: size.h,
                         kind: box.kind, tier: entry.tier } });
    });
    edges.forEach(function (e) {
      var classes = [e.kind];
      if (e.kind === "writes" && e.observed && !e.declared) classes.push("observed");
      if (e.fired) classes.push("fired");
      var fired = e.fired ? "fired " + e.fired : "";
      var data = { id: e.id, source: e.source, target: e.target,
                   label: [e.label, fired].filter(Boolean).join(" · "), kind: e.kind };
      var short = [shortLabel(e), fired].filter(Boolean).join(" · ");
      if (short) data.short = short;
      els.push({ group: "edges", classes: classes.join(" "), data: data });
    });
    return els;
  }

  function draw(keepView) {
    ui.shown = computeShown();
    var edges = computeEdges(ui.shown);
    ui.edges = edges;
    var els = elements(ui.shown, edges);
    if (cy === null) {
      cy = cytoscape({ container: $("graph"), elements: els, style: style,
                       minZoom: 0.05, maxZoom: 3, boxSelectionEnabled: false });
      bindGraph();
    } else {
      cy.batch(function () { cy.elements().remove(); cy.add(els); });
    }
    var layout = cy.layout({ name: "dagre", rankDir: "LR", nodeSep: 18, rankSep: 70, edgeSep: 8,
                             padding: 20, animate: false, fit: !keepView });
    layout.run();
    if (!keepView) fitReadable();
    body.dataset.nodes = String(cy.nodes().length);
    body.dataset.edges = String(cy.edges().length);
    body.dataset.level = ui.level;
    document.querySelectorAll("#levels button").forEach(function (b) {
      b.classList.toggle("on", b.dataset.level === ui.level);
    });
    if (ui.selected && !ui.shown.has(ui.selected)) ui.selected = null;
    applySearch();
    applyFocus();
    applyReplay();
  }

  // Fit the whole graph, but never below a zoom at which text is unreadable:
  // then center on the top left part and let the user pan.
  function fitReadable() {
    cy.fit(undefined, 20);
    if (cy.zoom() > 1.25) cy.zoom(1.25);
    cy.center();
    if (cy.zoom() < MIN_ZOOM[ui.level]) {
      cy.zoom(MIN_ZOOM[ui.level]);
      var bb = cy.elements().boundingBox();
      cy.pan({ x: 20 - bb.x1 * cy.zoom(), y: 20 - bb.y1 * cy.zoom() });
    }
  }

  // Selection, focus and the side panel ----------------------------------------
  function neighbourhood(id, depth) {
    var keep = new Set([id]);
    var node = cy.getElementById(id);
    node.descendants().forEach(function (d) { keep.add(d.id()); });
    var frontier = new Set(keep);
    ["outgoers", "incomers"].forEach(function (dir) {
      var front = new Set(frontier);
      for (var i = 0; i < depth; i++) {
        var next = new Set();
        front.forEach(function (fid) {
          cy.getElementById(fid)[dir]("edge").forEach(function (e) {
            if (e.data("kind") === "orders") return;
            var other = dir === "outgoers" ? e.target() : e.source();
            if (!keep.has(other.id())) { keep.add(other.id()); next.add(other.id()); }
          });
        });
        front = next;
      }
    });
    Array.from(keep).forEach(function (k) {
      cy.getElementById(k).ancestors().forEach(function (a) { keep.add(a.id()); });
    });
    return keep;
  }

  function applyFocus() {
    cy.elements().removeClass("faded near touch");
    cy.nodes().unselect();
    body.dataset.selected = ui.selected || "";
    if (!ui.selected) { showPanel(null); return; }
    var node = cy.getElementById(ui.selected);
    if (node.empty()) { showPanel(null); return; }
    node.select();
    var keep = neighbourhood(ui.selected, ui.depth);
    cy.nodes().forEach(function (n) { if (!keep.has(n.id())) n.addClass("faded"); });
    cy.edges().forEach(function (e) {
      if (keep.has(e.source().id()) && keep.has(e.target().id())) e.addClass("near");
      else e.addClass("faded");
      if (e.source().id() === ui.selected || e.target().id() === ui.selected) e.addClass("touch");
    });
    showPanel(ui.selected);
  }

  function select(id, center) {
    ui.selected = id;
    applyFocus();
    if (center && id) {
      var n = cy.getElementById(id);
      if (!n.empty()) cy.animate({ center: { eles: n }, zoom: Math.max(cy.zoom(), 0.9) }, { duration: 250 });
    }
  }

  function esc(text) {
    return String(text).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
  }

  // A docstring line: ``code`` becomes <code>code</code>.
  function docHtml(text) {
    return esc(text).replace(/``([^`]+)``/g, "<code>$1</code>");
  }

  function subLine(sub, withPath) {
    var never = sub.seen > 0 && sub.fired === 0;
    var what = withPath ? "<code>" + esc(sub.path) + "</code>" : "<code>" + esc(sub.subscriber) + "</code>";
    return "<li data-sub=\"" + esc(sub.path + "|" + sub.subscriber + "|" + sub.callback) + "\">" + what +
      " &rarr; " + esc(sub.callback) +
      (sub.filter ? " <span class=\"tag\">" + esc(sub.filter) + "</span>" : "") +
      " <span class=\"count" + (never ? " never" : "") + "\">fired " + sub.fired + " of " + sub.seen +
      "</span></li>";
  }

  function traceLines(path) {
    var lines = [];
    var upto = ui.replay >= 0 ? ui.replay : doc.entries.length - 1;
    for (var i = 0; i <= upto && i < doc.entries.length; i++) {
      var e = doc.entries[i];
      if (e[1] === path) {
        lines.push(e[0] + "  " + e[3] + " -> " + e[4] + "  by " + e[2] + (e[6] ? "" : "  (unchanged)"));
      }
    }
    return lines.slice(-40);
  }

  function varDetail(path) {
    var v = doc.variables[path];
    if (!v) return "<p class=\"hint\">no details for " + esc(path) + "</p>";
    var h = [];
    if (v.doc) h.push("<div class=\"doc\">" + docHtml(v.doc) + "</div>");
    h.push("<div><b>writers</b>: " + (v.writers.length ? v.writers.map(function (w) {
      return "<code>" + esc(w.key) + "</code> <span class=\"tag\">" + esc(w.how) + "</span>";
    }).join(", ") : "<i>none</i>") + "</div>");
    if (v.ordering_writers.length) {
      h.push("<div><b>ordering only</b> (no value written): " + v.ordering_writers.map(function (k) {
        return "<code>" + esc(k) + "</code>"; }).join(", ") + "</div>");
    }
    h.push("<div><b>readers</b>: " + (v.readers.length ? v.readers.map(function (k) {
      return "<code>" + esc(k) + "</code>"; }).join(", ") : "<i>none declared</i>") + "</div>");
    if (v.last_writer) h.push("<div><b>last writer</b>: " + esc(v.last_writer) + "</div>");
    if (v.subscribers.length) {
      h.push("<div><b>subscribers</b></div><ul>" + v.subscribers.map(function (s) {
        return subLine(s, false); }).join("") + "</ul>");
    }
    if (v.trace) {
      h.push("<div><b>traced</b>: set " + v.trace.sets + "x, " + v.trace.changes + " changes" +
        (v.trace.last ? ", last " + esc(v.trace.last) : "") + "</div>");
    }
    var lines = traceLines(path);
    if (lines.length) {
      h.push("<div><b>trace lines</b></div><div class=\"trace-lines mono\">" + esc(lines.join("\n")) + "</div>");
    }
    return h.join("");
  }

  var openRows = new Set();  // paths whose details are shown in the panel

  function showPanel(id) {
    var panel = $("panel");
    panel.dataset.box = id || "";
    if (!id) {
      $("panel-body").innerHTML = "<p class=\"hint\">Click a box to see its values, writers, readers " +
        "and subscribers. Double-click a box to expand or collapse it.</p>" + summaryHtml();
      return;
    }
    var entry = ui.shown.get(id);
    var box = entry.box;
    var h = [];
    h.push("<h2>" + esc(box.label) + "</h2><div class=\"kind\">" + esc(box.kind) +
      (box.cls ? " · " + esc(box.cls) : "") + " · <code>" + esc(box.id) + "</code></div>");
    if (box.doc && box.kind !== "variable") h.push("<div class=\"doc\">" + docHtml(box.doc) + "</div>");
    var canOpen = ui.closed.has(LEVELS[entry.tier] + ":" + box.id) ||
      (entry.tier < 2 && kids[LEVELS[entry.tier] + ":" + box.id]);
    var isOpen = cy.getElementById(id).isParent();
    if (canOpen || isOpen) {
      h.push("<p><button class=\"small\" id=\"toggle-open\">" + (isOpen ? "collapse" : "expand") +
        "</button></p>");
    }
    if (box.trace) {
      var t = box.trace;
      h.push("<div><b>traced</b>: " + t.sets + " sets, " + t.changes + " changes, fired " + t.fired +
        (t.running ? " <span class=\"tag\">running</span>" : "") + "</div>");
    }
    if (box.kind === "variable") {
      h.push("<h3>value</h3><div class=\"mono\" data-path=\"" + esc(box.id) + "\"><span class=\"value\">" +
        esc(valueOf(box.id)) + "</span></div>");
      h.push(varDetail(box.id));
    } else {
      if (box.members.length) {
        h.push("<h3>" + (box.kind === "callback" ? "callbacks" : "nodes") + " folded here</h3><ul>" + box.members.map(function (m) {
          return "<li><code>" + esc(m) + "</code></li>"; }).join("") + "</ul>");
      }
      if (box.paths.length) {
        h.push("<h3>variables</h3><table>");
        box.paths.forEach(function (p) {
          var name = box.members.length ? p.slice(p.indexOf(".") + 1) : varName(p);
          h.push("<tr class=\"var-row\" data-path=\"" + esc(p) + "\"><td class=\"name\">" + esc(name) +
            "</td><td class=\"value\">" + esc(valueOf(p)) + "</td></tr>");
          if (openRows.has(p)) h.push("<tr><td colspan=\"2\"><div class=\"var-detail\">" + varDetail(p) + "</div></td></tr>");
        });
        h.push("</table>");
        if (box.hidden) h.push("<div class=\"hint\">+" + box.hidden + " variables nothing uses</div>");
      }
      if (box.subscriptions.length) {
        h.push("<h3>subscribes to</h3><ul>" + box.subscriptions.map(function (s) {
          return subLine(s, true); }).join("") + "</ul>");
      }
    }
    var scroll = $("panel-body").scrollTop;  // a live update must not move the reader
    $("panel-body").innerHTML = h.join("");
    $("panel-body").scrollTop = scroll;
    var toggle = $("toggle-open");
    if (toggle) toggle.onclick = function () { toggleOpen(id); };
    document.querySelectorAll("#panel tr.var-row").forEach(function (row) {
      row.onclick = function () {
        var p = row.dataset.path;
        if (openRows.has(p)) openRows.delete(p); else openRows.add(p);
        showPanel(id);
      };
    });
  }

  function summaryHtml() {
    var model = doc.levels[ui.level];
    var h = ["<h3>this view</h3><div>" + cy.nodes().length + " boxes, " + cy.edges().length +
      " edges at the <b>" + esc(ui.level) + "</b> level" +
      (model.hidden ? "; " + model.hidden + " variables nothing uses are left out" : "") + "</div>"];
    if (model.trace) {
      h.push("<h3>trace</h3><div>" + model.trace.n_sets + " sets recorded, " + model.trace.n_events +
        " changes among the kept entries" + (model.trace.running ? "; last running: <code>" +
        esc(model.trace.running) + "</code>" : "") + "</div>");
    }
    return h.join("");
  }

  // Expand and collapse ----------------------------------------------------------
  function toggleOpen(id) {
    var node = cy.getElementById(id);
    var entry = ui.shown.get(id);
    if (!entry) return;
    if (node.nonempty() && node.isParent()) {
      // Close what was opened inside it; a box of the starting level collapses into
      // the box one level coarser that it folds into.
      var gone = new Set([id]);
      node.descendants().forEach(function (d) { gone.add(d.id()); });
      var before = ui.open.size;
      Array.from(ui.open).forEach(function (key) {
        if (gone.has(key.slice(key.indexOf(":") + 1))) ui.open.delete(key);
      });
      if (ui.open.size === before && entry.tier > 0) {
        var home = (doc.homes[LEVELS[entry.tier]] || {})[id];
        if (home == null) return;
        ui.closed.add(LEVELS[entry.tier - 1] + ":" + home);
      }
    } else {
      var key = LEVELS[entry.tier] + ":" + id;
      if (ui.closed.has(key)) ui.closed.delete(key);
      else if (entry.tier < 2 && kids[key]) ui.open.add(key);
      else return;
    }
    draw(true);
  }

  // Search ---------------------------------------------------------------------
  function matches(entry, q) {
    var box = entry.box;
    if (box.id.toLowerCase().indexOf(q) >= 0 || box.label.toLowerCase().indexOf(q) >= 0) return true;
    return box.paths.some(function (p) { return p.toLowerCase().indexOf(q) >= 0; }) ||
      box.members.some(function (m) { return m.toLowerCase().indexOf(q) >= 0; });
  }

  function applySearch() {
    cy.nodes().removeClass("match");
    var q = ui.query.trim().toLowerCase();
    var found = [];
    if (q) {
      ui.shown.forEach(function (entry, id) {
        var node = cy.getElementById(id);
        // A compound matches through its children; mark the innermost boxes.
        if (matches(entry, q) && !(node.isParent() && node.children().some(function (c) {
          return matches(ui.shown.get(c.id()), q); }))) {
          node.addClass("match");
          found.push(id);
        }
      });
    }
    body.dataset.matches = q ? String(found.length) : "";
    return found;
  }

  // Replay of a recorded trace --------------------------------------------------
  function applyReplay() {
    cy.nodes().removeClass("replay-set replay-writer");
    body.dataset.replay = String(ui.replay);
    if (ui.replay < 0 || !doc.entries.length) { $("replay-text").textContent = replayHint(); return; }
    var e = doc.entries[ui.replay];
    var set = resolve(e[1], 2, ui.shown) || resolve(homeOfPath(e[1]), 1, ui.shown);
    if (set) cy.getElementById(set).addClass("replay-set");
    var key = writerKeys[e[2]];
    var writer = key ? resolve(key, 2, ui.shown) || resolve(key, 1, ui.shown) : null;
    if (writer && writer !== set) cy.getElementById(writer).addClass("replay-writer");
    $("replay-text").textContent = "#" + e[0] + " " + "  ".repeat(e[5]) + e[1] + ": " + e[3] + " -> " +
      e[4] + "  by " + e[2] + (e[6] ? "" : "  (unchanged)");
    $("replay-slider").value = String(ui.replay);
  }

  function homeOfPath(path) { return (doc.homes.variables || {})[path] || path; }

  function replayHint() {
    return doc.entries.length + " trace entries: press play or move the slider to replay them";
  }

  function replayTo(index) {
    ui.replay = Math.max(-1, Math.min(index, doc.entries.length - 1));
    ui.values = {};
    for (var i = 0; i <= ui.replay; i++) ui.values[doc.entries[i][1]] = doc.entries[i][4];
    relabel();
    applyReplay();
    if (ui.selected) showPanel(ui.selected);
  }

  var playing = null;
  function togglePlay() {
    if (playing) { clearInterval(playing); playing = null; $("replay-play").textContent = "play"; return; }
    $("replay-play").textContent = "pause";
    playing = setInterval(function () {
      if (ui.replay >= doc.entries.length - 1) { togglePlay(); return; }
      replayTo(ui.replay + 1);
    }, 350);
  }

  function relabel() {
    var linked = linkedPaths(ui.edges);
    cy.batch(function () {
      cy.nodes().forEach(function (n) {
        var entry = ui.shown.get(n.id());
        if (!entry) return;
        var label = boxLabel(entry, n.isParent(), linked);
        if (label !== n.data("label")) {
          var size = boxSize(label);
          n.data({ label: label, w: Math.max(size.w, n.data("w")), h: Math.max(size.h, n.data("h")) });
        }
      });
    });
  }

  // Live updates ------------------------------------------------------------------
  var updates = 0;
  var pollMs = doc.poll_ms || 1000;
  // The server builds a snapshot on its own thread, which shares the interpreter with
  // the training loop: polling waits at least 100 times what the last snapshot took,
  // so a large state's snapshots never take more than 1% of the loop's time.
  function poll() {
    fetch("snapshot.json", { cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (snap) {
      applySnapshot(snap);
      $("live").classList.remove("stale");
    }).catch(function (err) {
      $("live").textContent = "live: no answer (" + err.message + ")";
      $("live").classList.add("stale");
    }).then(function () { setTimeout(poll, pollMs); });
  }

  function applySnapshot(snap) {
    pollMs = Math.max(doc.poll_ms || 1000, 100 * (snap.build_ms || 0));
    var changed = new Set();
    Object.keys(snap.variables).forEach(function (p) {
      var value = snap.variables[p];
      if (ui.values[p] !== value && valueOf(p) !== value) changed.add(p);
      ui.values[p] = value;
      if (doc.variables[p]) doc.variables[p].value = value;
    });
    snap.subscriptions.forEach(function (s) {
      (subIndex[s.path + "|" + s.subscriber + "|" + s.callback] || []).forEach(function (sub) {
        sub.fired = s.fired;
        sub.seen = s.seen;
      });
    });
    updates += 1;
    body.dataset.updates = String(updates);
    $("live").textContent = "live · update " + updates + " · " + changed.size + " changed · " +
      new Date().toLocaleTimeString();
    relabel();
    cy.nodes().removeClass("changed");
    changed.forEach(function (p) {
      var id = resolve(p, 2, ui.shown) || resolve(homeOfPath(p), 1, ui.shown);
      if (id) cy.getElementById(id).addClass("changed");
    });
    if (ui.selected) showPanel(ui.selected);
  }

  // Wiring ------------------------------------------------------------------------
  function bindGraph() {
    cy.on("tap", "node", function (evt) { select(evt.target.id(), false); });
    cy.on("tap", function (evt) { if (evt.target === cy) select(null, false); });
    cy.on("dbltap", "node", function (evt) { toggleOpen(evt.target.id()); });
  }

  document.querySelectorAll("#levels button").forEach(function (b) {
    b.onclick = function () {
      ui.level = b.dataset.level; ui.open.clear(); ui.closed.clear(); draw(false);
    };
  });
  $("search").oninput = function () { ui.query = this.value; applySearch(); };
  $("search").onkeydown = function (evt) {
    if (evt.key !== "Enter") return;
    var found = applySearch();
    if (found.length) select(found[0], true);
  };
  $("depth").value = String(ui.depth);
  $("depth").onchange = function () { ui.depth = Math.max(1, parseInt(this.value, 10) || 1); applyFocus(); };
  $("fit").onclick = function () { cy.fit(undefined, 20); };
  $("clear").onclick = function () {
    ui.query = ""; $("search").value = ""; applySearch(); select(null, false);
  };
  $("legend-toggle").onclick = function () { $("legend").classList.toggle("collapsed"); };
  $("title").textContent = doc.title || "state graph";
  var traced = doc.levels.nodes.trace !== null;
  document.querySelectorAll(".legend-trace").forEach(function (el) { el.hidden = !traced; });
  if (doc.entries.length) {
    $("replay").hidden = false;
    $("replay-slider").max = String(doc.entries.length - 1);
    $("replay-slider").oninput = function () { replayTo(parseInt(this.value, 10)); };
    $("replay-start").onclick = function () { replayTo(0); };
    $("replay-back").onclick = function () { replayTo(ui.replay - 1); };
    $("replay-next").onclick = function () { replayTo(ui.replay + 1); };
    $("replay-play").onclick = togglePlay;
  }

  // The starting focus: open the box it folds into, then select it.
  var focus = doc.start.focus;
  if (focus && ui.level !== "variables" && doc.variables[focus] && doc.homes.variables[focus]) {
    var home = doc.homes.variables[focus];
    if (ui.level === "containers") ui.open.add("containers:" + ((doc.homes.nodes || {})[home] || home));
    ui.open.add("nodes:" + home);
  }
  draw(false);
  window.statefireView = { cy: cy, ui: ui };
  if (focus) {
    var target = resolve(focus, 2, ui.shown) || resolve(focus, 1, ui.shown) || resolve(focus, 0, ui.shown);
    if (target) select(target, true);
  }
  if (doc.live) {
    $("live").hidden = false;
    $("live").textContent = "live · connecting";
    poll();
  }
})();
