/* batchwright report: filters and pages the embedded rows. Data is written with
   textContent and DOM properties only, never innerHTML, so row values stay text. */
(function () {
  "use strict";
  var doc = JSON.parse(document.getElementById("rows-data").textContent);
  var rows = doc.rows;
  var pageSize = doc.pageSize;
  var body = document.querySelector("#rows tbody");
  var statusFilter = document.getElementById("status-filter");
  var search = document.getElementById("search");
  var countLabel = document.getElementById("row-count");
  var pageInfo = document.getElementById("page-info");
  var prev = document.getElementById("prev-page");
  var next = document.getElementById("next-page");
  var haystacks = null;
  var shown = rows;
  var page = 0;

  function haystack(row) {
    return [row.n, row.s, row.c, row.m].concat(row.v).join("\n").toLowerCase();
  }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (className) { node.className = className; }
    return node;
  }

  function link(href, text) {
    var a = el("a", text);
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener";
    return a;
  }

  function evidence(row) {
    var cell = el("td", null, "evidence");
    row.sh.forEach(function (shot) {
      var a = link(shot[0]);
      var img = el("img", null, "thumb");
      img.src = shot[0];
      img.alt = "screenshot " + shot[1];
      img.loading = "lazy";
      a.appendChild(img);
      cell.appendChild(a);
    });
    row.tr.forEach(function (trace) {
      cell.appendChild(link(trace[0], "trace"));
      cell.appendChild(el("code", trace[1]));
    });
    row.o.forEach(function (other) {
      cell.appendChild(link(other[0], other[1]));
      cell.appendChild(document.createTextNode(" "));
    });
    return cell;
  }

  function renderRow(row) {
    var tr = document.createElement("tr");
    tr.className = "row st-" + row.s;
    var number = el("td", row.n, "num");
    number.title = "CSV line " + row.l + "\n" + doc.headers.map(function (h, i) {
      return h + ": " + row.v[i];
    }).join("\n");
    tr.appendChild(number);
    row.k.forEach(function (value) { tr.appendChild(el("td", value)); });
    var status = el("td");
    status.appendChild(el("span", row.s.replace("_", " "), "badge st-" + row.s));
    if (row.f) { status.appendChild(el("span", "flaky", "badge flaky")); }
    tr.appendChild(status);
    var attempts = el("td", row.a, "num");
    if (row.h) { attempts.title = "last attempt ran on " + row.h; }
    tr.appendChild(attempts);
    tr.appendChild(el("td", row.a ? row.d.toFixed(2) + " s" : "", "num"));
    var error = el("td", null, "msg");
    if (row.c) { error.appendChild(el("span", row.c, "category")); }
    if (row.m) { error.appendChild(el("span", row.m, "message")); }
    if (row.p) { error.appendChild(el("span", row.p, "pool")); }
    tr.appendChild(error);
    tr.appendChild(evidence(row));
    return tr;
  }

  function render() {
    var pages = Math.max(1, Math.ceil(shown.length / pageSize));
    page = Math.min(page, pages - 1);
    var start = page * pageSize;
    var end = Math.min(shown.length, start + pageSize);
    var fragment = document.createDocumentFragment();
    for (var i = start; i < end; i++) { fragment.appendChild(renderRow(shown[i])); }
    body.replaceChildren(fragment);
    var text = shown.length
      ? "Showing " + (start + 1) + "–" + end + " of " + shown.length + " rows"
      : "No rows match";
    if (shown.length !== rows.length) { text += " (filtered from " + rows.length + ")"; }
    countLabel.textContent = text;
    pageInfo.textContent = "page " + (page + 1) + " of " + pages;
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }

  function applyFilters() {
    var status = statusFilter.value;
    var terms = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    if (terms.length && haystacks === null) { haystacks = rows.map(haystack); }
    shown = rows.filter(function (row, index) {
      if (status === "flaky" ? !row.f : status && row.s !== status) { return false; }
      return terms.every(function (term) { return haystacks[index].indexOf(term) !== -1; });
    });
    page = 0;
    render();
  }

  var timer = null;
  search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(applyFilters, 150);
  });
  statusFilter.addEventListener("change", applyFilters);
  prev.addEventListener("click", function () { page -= 1; render(); });
  next.addEventListener("click", function () { page += 1; render(); });
  render();
}());
