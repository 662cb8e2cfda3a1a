(function () {
  "use strict";
  var PAGE = 50;
  var thumbs = JSON.parse(document.getElementById("thumbs").textContent);
  var S = JSON.parse(document.getElementById("strings").textContent);
  var OUTCOMES = ["correct", "tied", "wrong", "unscored"];
  // Rows travel as columns with strings as indices into S (see pack_rows); unpack them once.
  function unpack(p) {
    var rows = [], textual = {};
    p.textual.forEach(function (k) { textual[k] = true; });
    for (var i = 0; i < p.id.length; i++) {
      var detail = {};
      p.detail_keys.forEach(function (k, j) {
        var v = p.detail[i][j];
        if (v !== null && v !== undefined) detail[k] = textual[k] ? S[v] : v;
      });
      rows.push({id: S[p.id[i]], group: S[p.group[i]], image: S[p.image[i]],
                 thumb: p.thumb[i] >= 0 ? S[p.thumb[i]] : null,
                 options: p.options[i].map(function (j) { return S[j]; }),
                 scores: p.scores[i], gold: p.gold[i], outcome: OUTCOMES[p.outcome[i]], detail: detail});
    }
    return rows;
  }
  // The initial filter comes from the URL hash: #filter=outcome:wrong or #filter=group:left,outcome:tied
  function hashFilter() {
    var out = {}, m = /(?:^#|&)filter=([^&]*)/.exec(decodeURIComponent(location.hash));
    if (!m) return out;
    m[1].split(",").forEach(function (part) {
      var i = part.indexOf(":");
      if (i > 0) out[part.slice(0, i)] = part.slice(i + 1);
    });
    return out;
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmt(v) { return typeof v === "number" ? v.toFixed(4) : String(v); }
  function optionsCell(row) {
    var td = el("td");
    var scores = Array.isArray(row.scores) && !Array.isArray(row.scores[0]) ? row.scores : null;
    var top = scores ? Math.max.apply(null, scores) : null;
    row.options.forEach(function (text, i) {
      var cls = "opt" + (row.gold === i ? " gold" : "") + (scores && scores[i] === top ? " top" : "");
      var span = el("span", cls, text + " ");
      if (scores) span.appendChild(el("span", "score", fmt(scores[i])));
      td.appendChild(span);
    });
    if (!scores && row.scores !== null && row.scores !== undefined) {
      td.appendChild(el("span", "score", "scores " + JSON.stringify(row.scores)));
    }
    return td;
  }
  function imageCell(row) {
    var td = el("td");
    if (row.thumb && thumbs[row.thumb]) {
      var img = el("img", "thumb");
      img.src = thumbs[row.thumb];
      img.alt = row.image;
      td.appendChild(img);
      td.appendChild(el("div", "detail", row.image));
    } else {
      td.textContent = row.image;
    }
    return td;
  }
  function detailCell(row) {
    var parts = [];
    for (var k in row.detail) parts.push(k + "=" + fmt(row.detail[k]));
    return el("td", "detail", parts.join("  "));
  }
  function setup(box) {
    var rows = unpack(JSON.parse(document.getElementById(box.dataset.rows).textContent));
    var group = box.querySelector("select.group"), outcome = box.querySelector("select.outcome");
    var search = box.querySelector("input.search"), body = box.querySelector("tbody");
    var info = box.querySelector(".info"), page = 0, shown = rows;
    var wanted = hashFilter();
    if (wanted.outcome) outcome.value = wanted.outcome;
    if (wanted.group) group.value = wanted.group;
    function apply() {
      var g = group.value, o = outcome.value, q = search.value.toLowerCase();
      shown = rows.filter(function (r) {
        return (!g || r.group === g) && (!o || r.outcome === o) &&
          (!q || (r.id + " " + r.image + " " + r.options.join(" ")).toLowerCase().indexOf(q) >= 0);
      });
      page = 0;
      draw();
    }
    function draw() {
      var pages = Math.max(1, Math.ceil(shown.length / PAGE));
      page = Math.min(Math.max(page, 0), pages - 1);
      body.textContent = "";
      shown.slice(page * PAGE, page * PAGE + PAGE).forEach(function (r, i) {
        var tr = el("tr");
        tr.appendChild(el("td", "num", String(page * PAGE + i + 1)));
        tr.appendChild(el("td", "", r.id));
        tr.appendChild(el("td", "", r.group));
        tr.appendChild(imageCell(r));
        tr.appendChild(optionsCell(r));
        tr.appendChild(el("td", "num", r.gold === null || r.gold === undefined ? "" : JSON.stringify(r.gold)));
        var td = el("td");
        td.appendChild(el("span", "outcome " + r.outcome, r.outcome));
        tr.appendChild(td);
        tr.appendChild(detailCell(r));
        body.appendChild(tr);
      });
      info.textContent = shown.length + " of " + rows.length + " rows; page " + (page + 1) + " of " + pages;
    }
    box.querySelector("button.prev").onclick = function () { page -= 1; draw(); };
    box.querySelector("button.next").onclick = function () { page += 1; draw(); };
    group.onchange = outcome.onchange = apply;
    search.oninput = apply;
    apply();
  }
  Array.prototype.forEach.call(document.querySelectorAll(".browser"), setup);
  window.addEventListener("hashchange", function () { location.reload(); });
})();
