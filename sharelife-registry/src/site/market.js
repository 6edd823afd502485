// sharelife market: search, filter and sort the catalogue, and choose the
// host the "compatible with your host" list is for. Reading needs none of
// this: it only sets `hidden` and reorders, from the form or the URL
// (?q=&risk=&kind=&api=&triple=&sort=). No network requests.
(function () {
  "use strict";

  function param(name) {
    try {
      return new URLSearchParams(window.location.search).get(name) || "";
    } catch (e) {
      return "";
    }
  }

  function parseVersion(text) {
    var m = /^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(text || "");
    if (!m) return null;
    return [+m[1], m[2] === undefined ? 0 : +m[2], m[3] === undefined ? 0 : +m[3]];
  }

  function cmp(a, b) {
    for (var i = 0; i < 3; i++) {
      if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
    }
    return 0;
  }

  // One semver comparator [op, major, minor|null, patch|null], as cargo's
  // semver crate reads it (pre-releases left aside).
  function matchesOne(c, v) {
    var op = c[0], M = c[1], m = c[2], p = c[3];
    var lo = [M, m === null ? 0 : m, p === null ? 0 : p];
    switch (op) {
      case "=":
      case "*":
        if (m === null) return v[0] === M;
        if (p === null) return v[0] === M && v[1] === m;
        return cmp(v, lo) === 0;
      case ">":
        if (m === null) return v[0] > M;
        if (p === null) return v[0] > M || (v[0] === M && v[1] > m);
        return cmp(v, lo) > 0;
      case ">=":
        return cmp(v, lo) >= 0;
      case "<":
        return cmp(v, lo) < 0;
      case "<=":
        if (m === null) return v[0] <= M;
        if (p === null) return v[0] < M || (v[0] === M && v[1] <= m);
        return cmp(v, lo) <= 0;
      case "~":
        if (m === null) return v[0] === M;
        return cmp(v, lo) >= 0 && v[0] === M && v[1] === m;
      case "^":
        if (cmp(v, lo) < 0) return false;
        if (M > 0 || m === null) return v[0] === M;
        if (m > 0 || p === null) return v[0] === 0 && v[1] === m;
        return cmp(v, lo) === 0;
    }
    return false;
  }

  function runsOn(el, api, triple) {
    if (api) {
      var v = parseVersion(api);
      if (!v) return false;
      var range;
      try {
        range = JSON.parse(el.getAttribute("data-api") || "[]");
      } catch (e) {
        return false;
      }
      for (var i = 0; i < range.length; i++) {
        if (!matchesOne(range[i], v)) return false;
      }
    }
    if (triple) {
      var targets = (el.getAttribute("data-targets") || "").split(" ");
      if (targets.indexOf(triple) < 0) return false;
    }
    return true;
  }

  function catalogue(list) {
    var form = document.getElementById("filters");
    var fields = ["q", "risk", "kind", "api", "triple", "sort"];
    fields.forEach(function (name) {
      var value = param(name);
      if (value && form.elements[name]) form.elements[name].value = value;
    });
    var items = Array.prototype.slice.call(list.querySelectorAll("li.plugin"));

    function apply() {
      var q = form.elements.q.value.trim().toLowerCase();
      var risk = form.elements.risk.value;
      var kind = form.elements.kind.value;
      var api = form.elements.api.value.trim();
      var triple = form.elements.triple.value.trim();
      var shown = 0;
      items.forEach(function (el) {
        var ok =
          (!q || (el.getAttribute("data-search") || "").indexOf(q) >= 0) &&
          (!risk || el.getAttribute("data-risk") === risk) &&
          (!kind || (" " + el.getAttribute("data-kinds") + " ").indexOf(" " + kind + " ") >= 0) &&
          runsOn(el, api, triple);
        if (ok) {
          el.removeAttribute("hidden");
          shown++;
        } else {
          el.setAttribute("hidden", "");
        }
        var link = el.querySelector("h2 a");
        if (link) {
          var base = link.getAttribute("href").split("?")[0];
          var query = [];
          if (api) query.push("api=" + encodeURIComponent(api));
          if (triple) query.push("triple=" + encodeURIComponent(triple));
          link.setAttribute("href", base + (query.length ? "?" + query.join("&") : ""));
        }
      });
      var byNewest = form.elements.sort.value === "newest";
      items
        .slice()
        .sort(function (a, b) {
          if (byNewest) {
            var pa = a.getAttribute("data-published"), pb = b.getAttribute("data-published");
            if (pa !== pb) return pa < pb ? 1 : -1;
          }
          var ia = a.getAttribute("data-id"), ib = b.getAttribute("data-id");
          return ia < ib ? -1 : ia > ib ? 1 : 0;
        })
        .forEach(function (el) {
          list.appendChild(el);
        });
      document.getElementById("count").textContent =
        shown + " of " + items.length + " plugin" + (items.length === 1 ? "" : "s") + " shown";
    }

    form.addEventListener("input", apply);
    form.addEventListener("change", apply);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      apply();
      try {
        var query = [];
        fields.forEach(function (name) {
          var value = form.elements[name].value.trim();
          if (value) query.push(name + "=" + encodeURIComponent(value));
        });
        window.history.replaceState(null, "", query.length ? "?" + query.join("&") : window.location.pathname);
      } catch (err) {
        // file:// may refuse; the list is filtered all the same.
      }
    });
    apply();
  }

  function hostList(list) {
    var api = param("api") || list.getAttribute("data-default-api");
    var triple = param("triple") || list.getAttribute("data-default-triple");
    document.getElementById("host-api").textContent = api;
    document.getElementById("host-triple").textContent = triple;
    var any = false;
    Array.prototype.forEach.call(list.querySelectorAll("li.plugin"), function (el) {
      if (runsOn(el, api, triple)) {
        el.removeAttribute("hidden");
        any = true;
      } else {
        el.setAttribute("hidden", "");
      }
    });
    var none = document.getElementById("host-compatible-none");
    if (any) none.setAttribute("hidden", "");
    else none.removeAttribute("hidden");
  }

  var list = document.getElementById("catalogue");
  if (list) catalogue(list);
  var host = document.getElementById("host-compatible");
  if (host) hostList(host);
})();
