/* Approval pages: keyboard shortcuts and the live diff of the edit form.
 * Progressive enhancement only: every action is a plain link or a CSRF-protected form that works
 * without this file. No dependencies. */
(function () {
  "use strict";

  var TYPING = /^(TEXTAREA|SELECT)$/;
  var TEXT_INPUTS = /^(text|search|email|number|url|tel|password|date|datetime-local|time)$/;

  function isTyping(event) {
    var el = event.target;
    if (!el || !el.tagName) return false;
    if (el.isContentEditable || TYPING.test(el.tagName)) return true;
    return el.tagName === "INPUT" && TEXT_INPUTS.test(el.type || "text");
  }

  function onKey(handlers) {
    document.addEventListener("keydown", function (event) {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
      if (isTyping(event)) return;
      var handler = handlers[event.key];
      if (handler) {
        event.preventDefault();
        handler(event);
      }
    });
  }

  function setupHelp() {
    var help = document.getElementById("kbd-help");
    var toggles = document.querySelectorAll("[data-help-toggle]");
    function toggle() {
      if (!help) return;
      help.hidden = !help.hidden;
      toggles.forEach(function (t) { t.setAttribute("aria-expanded", String(!help.hidden)); });
    }
    toggles.forEach(function (t) { t.addEventListener("click", toggle); });
    // Esc closes the shortcuts panel, as it closes every dialog.
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && help && !help.hidden) toggle();
    });
    return toggle;
  }

  /* ---- the queue ---------------------------------------------------------------------------- */

  function setupQueue(toggleHelp) {
    var rows = Array.prototype.slice.call(document.querySelectorAll("[data-queue-row]"));
    var storageKey = "approvals:selected:" + location.pathname + location.search;
    var current = -1;

    function select(index, scroll) {
      if (!rows.length) return;
      index = Math.max(0, Math.min(rows.length - 1, index));
      if (rows[current]) {
        rows[current].classList.remove("is-selected");
        rows[current].removeAttribute("aria-current");
      }
      current = index;
      rows[current].classList.add("is-selected");
      rows[current].setAttribute("aria-current", "true");
      if (scroll !== false) rows[current].scrollIntoView({ block: "nearest" });
      try { sessionStorage.setItem(storageKey, String(current)); } catch (e) { /* private mode */ }
    }

    function selected() { return rows[current]; }

    function go(suffix) {
      var row = selected();
      if (row) location.href = row.dataset.href + (suffix || "");
    }

    rows.forEach(function (row, i) {
      row.addEventListener("click", function (event) {
        if (event.target.closest("a, button, input, label")) return;
        select(i, false);
      });
    });

    var saved = 0;
    try { saved = parseInt(sessionStorage.getItem(storageKey) || "0", 10) || 0; } catch (e) { saved = 0; }
    if (rows.length) select(saved, false);

    var selectLow = document.querySelector("[data-select-low]");
    if (selectLow) {
      selectLow.addEventListener("change", function () {
        document.querySelectorAll("input[name=ids]").forEach(function (box) { box.checked = selectLow.checked; });
      });
    }

    onKey({
      j: function () { select(current + 1); },
      k: function () { select(current - 1); },
      ArrowDown: function () { select(current + 1); },
      ArrowUp: function () { select(current - 1); },
      o: function () { go(""); },
      Enter: function () { go(""); },
      e: function () { go("#edit"); },
      r: function () { go("#reject"); },
      x: function () {
        var box = selected() && selected().querySelector("input[name=ids]");
        if (box) box.checked = !box.checked;
      },
      a: function () {
        var row = selected();
        if (!row) return;
        var risky = row.dataset.risk === "high" || row.dataset.risk === "critical";
        if (risky && !window.confirm("Approve #" + row.dataset.id + " (" + row.dataset.risk + " risk)?")) return;
        var button = row.querySelector("[data-approve]");
        if (button) button.click();
      },
      "?": toggleHelp,
    });
  }

  /* ---- the detail page ---------------------------------------------------------------------- */

  function openPanel(name) {
    var panel = document.getElementById(name);
    if (!panel) return;
    if (location.hash !== "#" + name) history.replaceState(null, "", "#" + name);
    document.querySelectorAll(".panel").forEach(function (p) { p.classList.toggle("open", p === panel); });
    panel.scrollIntoView({ block: "start" });
    focusFirst(panel);
  }

  function focusFirst(panel) {
    var first = panel.querySelector("input:not([type=hidden]), select, textarea");
    if (first) first.focus({ preventScroll: true });
  }

  function setupDetail(toggleHelp) {
    document.querySelectorAll("[data-open-panel]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        openPanel(link.dataset.openPanel);
      });
    });
    document.querySelectorAll(".panel a[href='#']").forEach(function (cancel) {
      cancel.addEventListener("click", function (event) {
        event.preventDefault();
        cancel.closest(".panel").classList.remove("open");
        history.replaceState(null, "", location.pathname + location.search);
      });
    });
    if (location.hash === "#edit" || location.hash === "#reject" || location.hash === "#intent") {
      var name = location.hash.slice(1);
      openPanel(name);
      // The browser's own scroll to the #fragment after load takes the focus back; focus again then.
      window.addEventListener("load", function () {
        setTimeout(function () { focusFirst(document.getElementById(name)); }, 0);
      });
    }

    function submit(id) {
      var form = document.getElementById(id);
      if (form) form.requestSubmit ? form.requestSubmit() : form.submit();
    }
    onKey({
      a: function () { submit("approve-form"); },
      e: function () { openPanel("edit"); },
      r: function () { openPanel("reject"); },
      i: function () { openPanel("intent"); },  // a ticket's intent correction (support/ticket.html)
      d: function () { submit("defer-form"); },
      u: function () { var back = document.querySelector("[data-back]"); if (back) location.href = back.href; },
      "?": toggleHelp,
    });
    setupLiveDiff();
  }

  /* ---- live diff of the edit form ----------------------------------------------------------- */

  function valueOf(input) {
    switch (input.dataset.type) {
      case "bool": return input.checked;
      case "number": return input.value === "" ? null : Number(input.value);
      case "json":
        try { return JSON.parse(input.value); } catch (e) { return input.value; }
      case "nullable-text": return input.value === "" ? null : input.value;
      default: return input.value;
    }
  }

  function show(value) {
    if (value === null || value === undefined || value === "") return "—";
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  // Word-level diff (longest common subsequence) for message copy; plain old → new otherwise.
  function wordDiff(before, after) {
    var a = before.split(/(\s+)/), b = after.split(/(\s+)/);
    if (a.length * b.length > 250000) return null;
    var n = a.length, m = b.length, i, j;
    var table = [];
    for (i = 0; i <= n; i++) table.push(new Array(m + 1).fill(0));
    for (i = n - 1; i >= 0; i--) {
      for (j = m - 1; j >= 0; j--) {
        table[i][j] = a[i] === b[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
      }
    }
    var out = el("div", undefined, "word-diff");
    i = 0; j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[i] === b[j]) { out.appendChild(document.createTextNode(a[i])); i++; j++; }
      else if (j < m && (i >= n || table[i][j + 1] >= table[i + 1][j])) { out.appendChild(el("ins", b[j])); j++; }
      else { out.appendChild(el("del", a[i])); i++; }
    }
    return out;
  }

  function setupLiveDiff() {
    var form = document.querySelector("[data-edit-form]");
    var box = document.querySelector("[data-edit-diff]");
    if (!form || !box) return;
    var preview = form.querySelector("[data-preview]");
    if (preview) preview.remove();  // the diff below is live; the server preview is for no-JS use
    var inputs = Array.prototype.slice.call(form.querySelectorAll("[data-key]"));

    function render() {
      var list = el("ul", undefined, "diff");
      inputs.forEach(function (input) {
        var before = JSON.parse(input.dataset.original);
        var after = valueOf(input);
        if (JSON.stringify(before) === JSON.stringify(after)) return;
        var item = el("li");
        item.dataset.diffKey = input.dataset.key;
        item.appendChild(el("code", input.dataset.key));
        item.appendChild(document.createTextNode(": "));
        item.appendChild(el("del", show(before)));
        item.appendChild(document.createTextNode(" → "));
        item.appendChild(el("ins", show(after)));
        if (typeof before === "string" && typeof after === "string" && (before.length > 40 || after.length > 40)) {
          var words = wordDiff(before, after);
          if (words) item.appendChild(words);
        }
        list.appendChild(item);
      });
      box.replaceChildren(list.children.length ? list : el("p", "No changes yet.", "muted"));
    }
    form.addEventListener("input", render);
    form.addEventListener("change", render);
    render();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var toggleHelp = setupHelp();
    if (document.querySelector("[data-queue-row], .queue-form")) setupQueue(toggleHelp);
    else if (document.getElementById("approve-form") || document.querySelector(".detail-head")) setupDetail(toggleHelp);
    // Shortcuts are live from here on (browser tests wait for this before pressing keys).
    document.documentElement.dataset.shortcuts = "ready";
  });
})();
