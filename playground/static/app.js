// reach playground: the page's script. Plain JavaScript, no library, nothing
// loaded from the network: the editors, the model's picture and the proof
// graphs are drawn here from the JSON of the playground's API (see
// playground/doc.go).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";

  // What the page holds; the URL's fragment restores all of it.
  const state = {
    model: "",
    schema: "",
    relationships: "",
    assertions: "",
    validation: "",
    baseline: "", // the schema edits are compared with (impact)
    matrix: { preset: 0, targets: "", subjects: "", permissions: "" },
    check: { resource: "", permission: "", subject: "", context: "" },
    dataTab: "relationships",
    queryTab: "matrix",
  };
  let presets = [];
  let analysis = null; // the last /api/analyze answer with a valid schema
  let flips = { cells: new Map(), wild: new Map(), total: 0, touched: new Set() };
  let matrixData = null;
  const expanded = new Set(); // definitions whose permissions are shown
  let graphScale = 0; // 0: fit

  // Test hooks: counters the browser tests wait on.
  const hooks = (window.__reach = { pending: 0, analyzed: 0, matrix: 0, impact: 0, check: 0, graph: 0 });

  // ---- API ----------------------------------------------------------------
  async function api(path, body) {
    hooks.pending++;
    try {
      const resp = await fetch(path, {
        method: body === undefined ? "GET" : "POST",
        headers: { "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const data = await resp.json();
      if (!resp.ok) {
        const err = new Error(data.error || resp.statusText);
        err.status = resp.status;
        throw err;
      }
      return data;
    } finally {
      hooks.pending--;
    }
  }
  const apiState = () => ({ schema: state.schema, relationships: state.relationships, assertions: state.assertions });

  function setStatus(text, error) {
    const s = $("status");
    s.textContent = text;
    s.classList.toggle("error", !!error);
  }

  const debounce = (fn, ms) => {
    let t;
    return (...a) => {
      clearTimeout(t);
      t = setTimeout(() => fn(...a), ms);
    };
  };
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  const el = (tag, attrs = {}, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const k of kids) e.append(k);
    return e;
  };
  const svg = (tag, attrs = {}) => {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  };

  // ---- Editors --------------------------------------------------------------
  // A textarea over a <pre> mirror: the mirror shows the highlighting and the
  // marks of the diagnostics, the gutter the line numbers and their state.
  class Editor {
    constructor(prefix, highlight, diagList) {
      this.ta = $(prefix + "-input");
      this.mirror = $(prefix + "-mirror");
      this.gutter = $(prefix + "-gutter");
      this.list = $(diagList);
      this.highlight = highlight;
      this.diags = [];
      this.lineClass = new Map();
      this.ta.addEventListener("scroll", () => this.sync());
      this.ta.addEventListener("input", () => this.render());
      this.ta.addEventListener("keydown", (e) => {
        if (e.key === "Tab" && !e.shiftKey && !e.ctrlKey && !e.metaKey) {
          e.preventDefault();
          document.execCommand("insertText", false, "  ");
        }
      });
    }
    get value() {
      return this.ta.value;
    }
    set value(v) {
      this.ta.value = v;
      this.render();
    }
    sync() {
      this.mirror.scrollTop = this.ta.scrollTop;
      this.mirror.scrollLeft = this.ta.scrollLeft;
      this.gutter.scrollTop = this.ta.scrollTop;
    }
    setDiagnostics(diags, lineClass) {
      this.diags = diags || [];
      this.lineClass = lineClass || new Map();
      this.render();
      this.list.replaceChildren(
        ...this.diags.map((d) =>
          el(
            "li",
            { class: d.severity, "data-line": d.line, onclick: () => this.goto(d.line, d.column) },
            el("span", { class: "pos", text: `${d.line}:${d.column}` }),
            el("span", { class: "sev", text: d.severity === "fail" ? "fails " : d.severity === "warning" ? "warning " : "" }),
            d.message,
          ),
        ),
      );
    }
    render() {
      const lines = this.ta.value.split("\n");
      const marks = new Map();
      for (const d of this.diags) {
        if (d.severity === "fail") continue;
        if (!marks.has(d.line)) marks.set(d.line, []);
        marks.get(d.line).push(d);
      }
      let hl = this.highlight(lines);
      const html = lines.map((line, i) => {
        const ms = marks.get(i + 1);
        if (!ms) return hl[i];
        // Mark the token at each diagnostic's column.
        ms.sort((a, b) => a.column - b.column);
        let out = "";
        let at = 0;
        for (const d of ms) {
          let start = Math.min(Math.max(d.column - 1, 0), line.length);
          if (start < at) continue;
          let end = start;
          while (end < line.length && /[\w:#*.\->@]/.test(line[end])) end++;
          if (end === start) end = Math.min(start + 1, line.length);
          out += esc(line.slice(at, start));
          const cls = d.severity === "warning" ? "warn-mark" : "err-mark";
          out += `<span class="${cls}" data-line="${d.line}" data-col="${d.column}" title="${esc(d.message)}">${esc(line.slice(start, end)) || " "}</span>`;
          at = end;
        }
        return out + esc(line.slice(at));
      });
      this.mirror.innerHTML = html.join("\n") + "\n ";
      const byLine = new Map();
      for (const d of this.diags) {
        const cur = byLine.get(d.line);
        if (!cur || d.severity === "error") byLine.set(d.line, d);
      }
      const frag = document.createDocumentFragment();
      lines.forEach((_, i) => {
        const n = i + 1;
        const d = byLine.get(n);
        const cls = ["ln"];
        if (d) cls.push(d.severity);
        if (this.lineClass.has(n)) cls.push(this.lineClass.get(n));
        const div = el("div", { class: cls.join(" "), "data-line": n, text: String(n) });
        if (d) div.title = d.message;
        frag.append(div);
      });
      this.gutter.replaceChildren(frag);
      this.sync();
    }
    goto(line, col) {
      const lines = this.ta.value.split("\n");
      let pos = 0;
      for (let i = 0; i < line - 1 && i < lines.length; i++) pos += lines[i].length + 1;
      pos += Math.max(0, (col || 1) - 1);
      this.ta.focus();
      this.ta.setSelectionRange(pos, pos);
      const lh = parseFloat(getComputedStyle(this.ta).lineHeight) || 18;
      this.ta.scrollTop = Math.max(0, (line - 4) * lh);
      this.sync();
    }
  }

  // Highlighters: one HTML string per line.
  const KEYWORDS = /\b(definition|relation|permission|caveat|use|with|nil|expiration|any|all)\b/g;
  function highlightSchema(lines) {
    let inBlock = false;
    return lines.map((line) => {
      let out = "";
      let i = 0;
      while (i < line.length) {
        if (inBlock) {
          const end = line.indexOf("*/", i);
          const stop = end < 0 ? line.length : end + 2;
          out += `<span class="tok-com">${esc(line.slice(i, stop))}</span>`;
          i = stop;
          if (end >= 0) inBlock = false;
          continue;
        }
        const lc = line.indexOf("//", i);
        const bc = line.indexOf("/*", i);
        const next = [lc, bc].filter((x) => x >= 0).sort((a, b) => a - b)[0];
        const code = line.slice(i, next === undefined ? line.length : next);
        out += esc(code)
          .replace(KEYWORDS, '<span class="tok-kw">$1</span>')
          .replace(/(-&gt;|\+|&amp;| - |\|)/g, '<span class="tok-op">$1</span>');
        if (next === undefined) break;
        if (next === lc) {
          out += `<span class="tok-com">${esc(line.slice(lc))}</span>`;
          break;
        }
        inBlock = true;
        i = bc;
      }
      return out;
    });
  }
  function highlightRelationships(lines) {
    return lines.map((line) => {
      if (/^\s*\/\//.test(line)) return `<span class="tok-com">${esc(line)}</span>`;
      return esc(line).replace(/([#@])/g, '<span class="tok-op">$1</span>');
    });
  }
  function highlightYAML(lines) {
    return lines.map((line) => {
      const c = line.indexOf("#");
      if (/^\s*#/.test(line)) return `<span class="tok-com">${esc(line)}</span>`;
      const m = /^(\s*)(assertTrue|assertFalse|assertCaveated)(:.*)$/.exec(line);
      if (m) return `${m[1]}<span class="tok-kw">${m[2]}</span>${esc(m[3])}`;
      if (c > 0 && /\s#/.test(line.slice(c - 1, c + 1)) && line.indexOf('"') < 0) {
        return esc(line.slice(0, c)) + `<span class="tok-com">${esc(line.slice(c))}</span>`;
      }
      return esc(line);
    });
  }

  const editors = {
    schema: new Editor("schema", highlightSchema, "schema-diagnostics"),
    relationships: new Editor("rel", highlightRelationships, "rel-diagnostics"),
    assertions: new Editor("assert", highlightYAML, "assert-diagnostics"),
  };

  // ---- Analysis as you type -----------------------------------------------
  let analyzeSeq = 0;
  async function analyze() {
    const seq = ++analyzeSeq;
    let res;
    try {
      res = await api("api/analyze", apiState());
    } catch (e) {
      if (seq === analyzeSeq) setStatus(e.message, true);
      return;
    }
    if (seq !== analyzeSeq) return;
    editors.schema.setDiagnostics(res.schema_diagnostics);
    editors.relationships.setDiagnostics(res.relationship_diagnostics);
    const lineClass = new Map();
    const fails = [];
    for (const a of res.assertions) {
      lineClass.set(a.line, a.passed ? "pass" : "fail");
      if (!a.passed) fails.push({ line: a.line, column: 1, severity: "fail", message: `${a.kind} ${a.text}: got ${a.got}` });
    }
    editors.assertions.setDiagnostics([...res.assertion_diagnostics, ...fails].sort((a, b) => a.line - b.line), lineClass);
    const nErr = res.schema_diagnostics.filter((d) => d.severity === "error").length;
    const nRels = state.relationships.split("\n").filter((l) => l.trim() && !l.trim().startsWith("//")).length;
    const passed = res.assertions.filter((a) => a.passed).length;
    const relCount = $("rel-count");
    relCount.textContent = res.relationship_diagnostics.length ? `${res.relationship_diagnostics.length} bad` : String(nRels);
    relCount.classList.toggle("bad", res.relationship_diagnostics.length > 0);
    const ac = $("assert-count");
    const aBad = res.assertions.length - passed + res.assertion_diagnostics.length;
    ac.textContent = res.assertions.length ? `${passed}/${res.assertions.length}` : "";
    ac.classList.toggle("bad", aBad > 0);
    if (!res.valid) {
      $("schema-summary").textContent = `${nErr} error${nErr === 1 ? "" : "s"}: the picture, matrix and queries show the last valid schema`;
      setStatus(`schema: ${nErr} error${nErr === 1 ? "" : "s"}`, true);
      document.body.dataset.schemaValid = "false";
      hooks.analyzed++;
      return;
    }
    document.body.dataset.schemaValid = "true";
    analysis = res;
    const defs = res.types.length;
    const perms = res.types.reduce((n, t) => n + t.permissions.length, 0);
    $("schema-summary").textContent = `${defs} definitions, ${perms} permissions`;
    setStatus(`schema ok · ${nRels} relationships · ${passed}/${res.assertions.length} assertions pass`);
    fillLists(res);
    if (!state.matrix.targets) defaultMatrix(res);
    drawGraph();
    hooks.analyzed++;
    refreshImpact();
    refreshMatrix();
  }
  const analyzeSoon = debounce(analyze, 250);

  function fillLists(res) {
    $("object-list").replaceChildren(...res.objects.map((o) => el("option", { value: o })));
    const perms = new Set();
    for (const t of res.types) for (const p of [...t.permissions, ...t.relations]) perms.add(p);
    $("permission-list").replaceChildren(...[...perms].sort().map((p) => el("option", { value: p })));
    $("type-list").replaceChildren(...res.types.map((t) => el("option", { value: t.name })));
  }

  // ---- The model's picture ------------------------------------------------
  const measureCtx = document.createElement("canvas").getContext("2d");
  function textWidth(text, font) {
    measureCtx.font = font;
    return measureCtx.measureText(text).width;
  }
  const clip = (s, n) => (s.length > n ? s.slice(0, n - 1) + "…" : s);

  function drawGraph() {
    const host = $("graph");
    if (!analysis || !analysis.graph) return;
    const g = analysis.graph;
    const showPerms = $("graph-permissions").checked;
    const showArrows = $("graph-arrows").checked;
    const monoFont = `11px ${getComputedStyle(document.body).getPropertyValue("--mono")}`;
    const titleFont = `600 12px ${getComputedStyle(document.body).getPropertyValue("--sans")}`;
    const ROW = 16, TITLE = 22, PAD = 8, MAXP = 10;

    // Boxes: a title and a row per relation (and permission, when shown).
    const nodes = new Map();
    for (const n of g.nodes) {
      const rows = [];
      let perms = n.members.filter((m) => m.kind === "permission");
      const changed = (m) => flips.touched.has(`${n.name}#${m.name}`);
      const rels = n.members.filter((m) => m.kind === "relation");
      const MAXR = 14;
      const shownRels = rels.length > MAXR && !expanded.has(n.name) ? rels.filter((m, i) => i < MAXR - 2 || changed(m)) : rels;
      for (const m of shownRels) rows.push({ m, text: `${m.name}: ${m.types}` });
      if (shownRels.length < rels.length) rows.push({ more: true, text: `+ ${rels.length - shownRels.length} relations (click)` });
      for (const m of n.members) if (m.kind === "caveat") rows.push({ m, text: m.expr });
      let shown = showPerms || expanded.has(n.name) ? perms : perms.filter(changed);
      let more = 0;
      if (shown.length > MAXP && !expanded.has(n.name)) {
        more = shown.length - MAXP;
        shown = shown.slice(0, MAXP);
      }
      for (const m of shown) rows.push({ m, text: `${m.name} = ${m.expr}` });
      const hidden = perms.length - shown.length;
      if (hidden > 0) rows.push({ more: true, text: `+ ${hidden} permission${hidden === 1 ? "" : "s"}${more ? "" : " (click)"}` });
      for (const r of rows) r.text = clip(r.text, 64);
      const title = n.caveat ? `caveat ${n.name}` : n.name;
      let w = textWidth(title, titleFont) + 2 * PAD;
      for (const r of rows) w = Math.max(w, textWidth(r.text, monoFont) + 2 * PAD);
      nodes.set(n.name, { n, rows, w: Math.ceil(Math.max(w, 90)), h: TITLE + rows.length * ROW + 6, out: [], in: [] });
    }
    // Many relations of one definition to the same type (flags such as
    // `user:*`) are drawn as one edge from the title.
    const groups = new Map();
    for (const e of g.edges) {
      if (!nodes.has(e.to) || (!showArrows && e.kind === "arrow")) continue;
      const k = `${e.from}>${e.to}>${e.kind}`;
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k).push(e);
    }
    const edges = [];
    for (const list of groups.values()) {
      if (list.length <= 3) edges.push(...list);
      else edges.push({ ...list[0], member: "", label: `${list.length} ${list[0].kind === "arrow" ? "arrows" : "relations"}: ${list.map((e) => e.label).join(", ")}`, bundle: list.length });
    }
    for (const e of edges) {
      if (e.kind === "arrow" || e.from === e.to) continue;
      nodes.get(e.from).out.push(e.to);
      nodes.get(e.to).in.push(e.from);
    }

    // Ranks: longest path from the resources down to the subjects, cycles
    // broken where the walk meets them.
    const order = [...nodes.keys()];
    const rank = new Map();
    const onStack = new Set();
    const visit = (name) => {
      if (rank.has(name)) return rank.get(name);
      if (onStack.has(name)) return -1;
      onStack.add(name);
      let r = 0;
      for (const p of nodes.get(name).in) {
        const pr = visit(p);
        if (pr >= 0) r = Math.max(r, pr + 1);
      }
      onStack.delete(name);
      rank.set(name, r);
      return r;
    };
    order.forEach(visit);
    const ranks = [];
    for (const name of order) {
      const r = rank.get(name);
      (ranks[r] = ranks[r] || []).push(name);
    }
    // Order within ranks by the mean position of neighbours (a few sweeps).
    const pos = new Map();
    const place = () => ranks.forEach((names) => names.forEach((nm, i) => pos.set(nm, i / Math.max(1, names.length - 1))));
    place();
    for (let sweep = 0; sweep < 4; sweep++) {
      for (const names of ranks) {
        const bary = (nm) => {
          const nb = [...nodes.get(nm).in, ...nodes.get(nm).out].filter((x) => x !== nm);
          return nb.length ? nb.reduce((s, x) => s + pos.get(x), 0) / nb.length : pos.get(nm);
        };
        names.sort((a, b) => bary(a) - bary(b));
      }
      place();
    }
    // Rows of boxes, top to bottom; a rank too wide for the panel wraps.
    const panelW = Math.max(600, host.clientWidth - 20);
    const GAPX = 28, GAPY = 54, M = 16;
    let y = M;
    let maxW = 0;
    for (const names of ranks) {
      let line = [];
      let lineW = 0;
      const flush = () => {
        if (!line.length) return;
        const h = Math.max(...line.map((nm) => nodes.get(nm).h));
        let x = M;
        for (const nm of line) {
          const b = nodes.get(nm);
          b.x = x;
          b.y = y;
          x += b.w + GAPX;
        }
        maxW = Math.max(maxW, x - GAPX + M);
        y += h + GAPY;
        line = [];
        lineW = 0;
      };
      for (const nm of names) {
        const w = nodes.get(nm).w;
        if (line.length && lineW + w > panelW) flush();
        line.push(nm);
        lineW += w + GAPX;
      }
      flush();
    }
    const width = Math.max(maxW, 200) + 40; // room for the loops and labels on the right
    const height = y - GAPY + M + 20;

    const root = svg("svg", { id: "graph-svg", viewBox: `0 0 ${width} ${height}` });
    const defs = svg("defs");
    for (const [id, color] of [["arrowhead", "#667085"], ["arrowhead-blue", "#2f5bd3"], ["arrowhead-cav", "#b54708"]]) {
      const mk = svg("marker", { id, viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
      mk.append(svg("path", { d: "M0,0 L10,5 L0,10 z", fill: color }));
      defs.append(mk);
    }
    root.append(defs);
    const edgeLayer = svg("g", { class: "edges" });
    const boxLayer = svg("g", { class: "boxes" });
    root.append(edgeLayer, boxLayer);

    const rowY = (b, member) => {
      const i = b.rows.findIndex((r) => r.m && r.m.name === member);
      return i < 0 ? b.y + TITLE / 2 : b.y + TITLE + i * ROW + ROW / 2 + 2;
    };
    for (const e of edges) {
      const a = nodes.get(e.from), b = nodes.get(e.to);
      const sx = a.x + a.w, sy = rowY(a, e.member);
      let d;
      if (e.from === e.to) {
        d = `M${sx},${sy} C${sx + 34},${sy} ${sx + 34},${a.y + 6} ${sx},${a.y + 6}`;
      } else if (b.y > a.y + a.h) {
        const ex = b.x + b.w / 2, ey = b.y;
        d = `M${sx},${sy} C${sx + 40},${sy} ${ex},${ey - 50} ${ex},${ey}`;
      } else if (b.y + b.h < a.y) {
        const ex = b.x + b.w / 2, ey = b.y + b.h;
        d = `M${sx},${sy} C${sx + 40},${sy} ${ex},${ey + 50} ${ex},${ey}`;
      } else {
        const ex = b.x + (b.x > a.x ? 0 : b.w), ey = b.y + TITLE / 2;
        d = `M${sx},${sy} C${sx + 40},${sy} ${ex + (b.x > a.x ? -40 : 40)},${ey} ${ex},${ey}`;
      }
      const marker = e.kind === "arrow" ? "arrowhead-blue" : e.kind === "caveat" ? "arrowhead-cav" : "arrowhead";
      const p = svg("path", { d, class: `edge ${e.kind}`, "marker-end": `url(#${marker})`, "data-from": e.from, "data-to": e.to });
      const t = svg("title");
      t.textContent = e.bundle ? `${e.from} → ${e.to}: ${e.label}` : `${e.from}#${e.member} → ${e.to}: ${e.label}`;
      p.append(t);
      if (e.bundle) p.classList.add("bundle");
      edgeLayer.append(p);
      if (e.bundle) {
        const lbl = svg("text", { class: "edge-label", x: sx + 6, y: sy - 4 });
        lbl.textContent = `×${e.bundle}`;
        edgeLayer.append(lbl);
      }
    }
    for (const [name, b] of nodes) {
      const changed = b.n.members.some((m) => flips.touched.has(`${name}#${m.name}`));
      const grp = svg("g", { class: `def${b.n.caveat ? " caveat" : ""}${changed ? " changed" : ""}`, "data-name": name, transform: `translate(${b.x},${b.y})` });
      grp.append(svg("rect", { class: "box", width: b.w, height: b.h, rx: 6 }));
      grp.append(svg("rect", { class: "title", width: b.w, height: TITLE, rx: 6 }));
      grp.append(svg("rect", { class: "title", y: TITLE - 6, width: b.w, height: 6 }));
      const tt = svg("text", { class: "title", x: PAD, y: 15 });
      tt.textContent = b.n.caveat ? `caveat ${name}` : name;
      grp.append(tt);
      b.rows.forEach((r, i) => {
        const isChanged = r.m && flips.touched.has(`${name}#${r.m.name}`);
        const t = svg("text", { class: r.more ? "more" : `member ${r.m.kind}${isChanged ? " changed" : ""}`, x: PAD, y: TITLE + i * ROW + 13 });
        t.textContent = r.text;
        if (r.m) {
          const title = svg("title");
          title.textContent = r.m.kind === "relation" ? `relation ${r.m.name}: ${r.m.types}` : `${r.m.kind} ${r.m.name} = ${r.m.expr}`;
          t.append(title);
          t.addEventListener("click", (ev) => {
            ev.stopPropagation();
            editors.schema.goto(r.m.line, 1);
          });
        }
        grp.append(t);
      });
      grp.addEventListener("click", () => {
        if (expanded.has(name)) expanded.delete(name);
        else expanded.add(name);
        drawGraph();
        editors.schema.goto(b.n.line, 1);
      });
      boxLayer.append(grp);
    }
    root.dataset.width = width;
    root.dataset.height = height;
    host.replaceChildren(root);
    applyGraphScale();
    hooks.graph++;
  }

  function applyGraphScale() {
    const root = $("graph-svg");
    if (!root) return;
    const w = +root.dataset.width, h = +root.dataset.height;
    const host = $("graph");
    // Fit the width, never below 70 %: the panel scrolls beyond.
    const fit = Math.min(1, (host.clientWidth - 4) / w);
    const s = graphScale || Math.max(0.7, fit);
    root.setAttribute("width", Math.round(w * s));
    root.setAttribute("height", Math.round(h * s));
    $("graph-fit").textContent = graphScale ? "fit" : "1:1";
  }

  // ---- Proofs ---------------------------------------------------------------
  // A proof drawn as an outline graph: the check at the top left, each step
  // below the step it supports, one indent deeper, joined by an edge; a step
  // that two steps rest on is drawn once, its second edge dashed.
  function drawProof(proof) {
    const host = $("proof");
    if (!proof || !proof.nodes.length) {
      host.replaceChildren();
      return;
    }
    const mono = `11px ${getComputedStyle(document.body).getPropertyValue("--mono")}`;
    const kids = proof.nodes.map(() => []);
    for (const [p, c] of proof.edges) kids[p].push(c);
    const INDENT = 26, RH = 38, H = 30;
    const depth = new Array(proof.nodes.length).fill(-1);
    const row = new Array(proof.nodes.length).fill(-1);
    const tree = [], extra = [];
    let rows = 0;
    const walk = (i, d) => {
      depth[i] = d;
      row[i] = rows++;
      for (const c of kids[i]) {
        if (row[c] >= 0) {
          extra.push([i, c]);
          continue;
        }
        tree.push([i, c]);
        walk(c, d + 1);
      }
    };
    walk(0, 0);
    let width = 0;
    proof.nodes.forEach((n, i) => {
      if (row[i] < 0) return;
      n.label2 = clip(n.label, 72);
      n.w = Math.ceil(Math.max(textWidth(n.label2, mono), textWidth(`${n.result} · ${n.rule}`, mono) * 0.85) + 18);
      width = Math.max(width, 10 + depth[i] * INDENT + n.w + 40);
    });
    const height = rows * RH + 12;
    const root = svg("svg", { id: "proof-svg", width, height, viewBox: `0 0 ${width} ${height}` });
    const edgeLayer = svg("g");
    root.append(edgeLayer);
    const at = (i) => ({ x: 10 + depth[i] * INDENT, y: 6 + row[i] * RH });
    for (const [p, c] of tree) {
      const a = at(p), b = at(c);
      edgeLayer.append(svg("path", { d: `M${a.x + 12},${a.y + H} V${b.y + H / 2} H${b.x}`, "marker-end": "url(#proof-head)" }));
    }
    for (const [p, c] of extra) {
      const a = at(p), b = at(c);
      const ax = a.x + proof.nodes[p].w, bx = b.x + proof.nodes[c].w;
      const x = Math.max(ax, bx) + 30;
      edgeLayer.append(svg("path", { d: `M${ax},${a.y + H / 2} C${x},${a.y + H / 2} ${x},${b.y + H / 2} ${bx},${b.y + H / 2}`, class: "shared", "marker-end": "url(#proof-head)" }));
    }
    const defs = svg("defs");
    const mk = svg("marker", { id: "proof-head", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "6", markerHeight: "6", orient: "auto-start-reverse" });
    mk.append(svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#98a2b3" }));
    defs.append(mk);
    root.prepend(defs);
    proof.nodes.forEach((n, i) => {
      if (row[i] < 0) return;
      const { x, y } = at(i);
      const g = svg("g", { class: `node ${n.result}`, transform: `translate(${x},${y})`, "data-rule": n.rule });
      g.append(svg("rect", { width: n.w, height: H, rx: 6 }));
      const r = svg("text", { class: "rule", x: 8, y: 10 });
      r.textContent = `${n.result} · ${n.rule}`;
      const t = svg("text", { x: 8, y: 24 });
      t.textContent = n.label2;
      const title = svg("title");
      title.textContent = `${n.result}: ${n.label}`;
      g.append(r, t, title);
      root.append(g);
    });
    host.replaceChildren(root);
  }

  // ---- Queries ----------------------------------------------------------------
  function showError(target, e) {
    target.className = "note error";
    target.textContent = e.message;
  }

  async function runCheck() {
    const out = $("check-result");
    state.check = {
      resource: $("check-resource").value.trim(),
      permission: $("check-permission").value.trim(),
      subject: $("check-subject").value.trim(),
      context: $("check-context").value.trim(),
    };
    saveSoon();
    let context;
    if (state.check.context) {
      try {
        context = JSON.parse(state.check.context);
      } catch (e) {
        showError(out, new Error(`context: ${e.message}`));
        return;
      }
    }
    try {
      const res = await api("api/check", { state: apiState(), resource: state.check.resource, permission: state.check.permission, subject: state.check.subject, context });
      out.className = "note";
      out.innerHTML = `<span class="badge ${res.result}" id="check-answer">${res.result}</span>` +
        esc(`${state.check.resource}#${state.check.permission}@${state.check.subject}`) +
        (res.missing && res.missing.length ? esc(` — missing context: ${res.missing.join(", ")}`) : "") +
        (res.result === "denied" ? " — the branches tried:" : " — the proof:");
      drawProof(res.proof);
      $("proof-text").textContent = res.tree;
      hooks.check++;
    } catch (e) {
      showError(out, e);
      drawProof(null);
    }
  }

  async function runLookupResources() {
    const out = $("lookup-result");
    try {
      const res = await api("api/lookup/resources", { state: apiState(), resource_type: $("lr-type").value.trim(), permission: $("lr-permission").value.trim(), subject: $("lr-subject").value.trim() });
      renderResults(out, `${res.resources.length} resource${res.resources.length === 1 ? "" : "s"}`, res.resources);
    } catch (e) {
      showError(out, e);
    }
  }
  async function runLookupSubjects() {
    const out = $("lookup-result");
    try {
      const res = await api("api/lookup/subjects", { state: apiState(), resource: $("ls-resource").value.trim(), permission: $("ls-permission").value.trim(), subject_type: $("ls-type").value.trim() });
      renderResults(out, `${res.subjects.length} subject${res.subjects.length === 1 ? "" : "s"}`, res.subjects);
    } catch (e) {
      showError(out, e);
    }
  }
  function renderResults(out, head, items) {
    out.className = "note";
    out.replaceChildren(
      el("div", { text: head }),
      el("ul", { class: "results" }, ...items.map((r) =>
        el("li", { class: r.result, title: r.result }, r.id + (r.result === "conditional" ? " (conditional)" : "") + (r.excluded && r.excluded.length ? ` except ${r.excluded.join(", ")}` : "")))),
    );
  }

  async function runExpand() {
    const out = $("expand-result");
    try {
      const res = await api("api/expand", { state: apiState(), resource: $("expand-resource").value.trim(), permission: $("expand-permission").value.trim() });
      const node = (n) => {
        const li = el("li", {}, el("span", { class: "op", text: n.op === "leaf" ? "" : n.op + " " }), n.label);
        const ul = el("ul");
        for (const s of n.subjects || []) ul.append(el("li", { class: "subj", text: s }));
        for (const c of n.children || []) ul.append(node(c));
        if (ul.childNodes.length) li.append(ul);
        return li;
      };
      out.replaceChildren(el("ul", {}, node(res.tree)));
    } catch (e) {
      out.replaceChildren(el("div", { class: "note error", text: e.message }));
    }
  }

  // ---- The matrix -------------------------------------------------------------
  const ICON = { allowed: "✓", denied: "✗", conditional: "?" };
  const split = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);

  function fillPresets() {
    const sel = $("matrix-preset");
    sel.replaceChildren(...presets.map((p, i) => el("option", { value: i, text: p.title })), el("option", { value: "custom", text: "Custom" }));
    sel.value = presets.length ? String(state.matrix.preset ?? 0) : "custom";
  }
  function applyPreset(i) {
    const p = presets[i];
    if (!p) return;
    state.matrix = { preset: i, targets: p.targets.join(", "), subjects: p.subjects.join(", "), permissions: (p.permissions || []).join(", ") };
    showMatrixForm();
  }
  function showMatrixForm() {
    $("matrix-targets").value = state.matrix.targets;
    $("matrix-subjects").value = state.matrix.subjects;
    $("matrix-permissions").value = state.matrix.permissions;
  }

  // A matrix for a model without presets: the first type with permissions
  // and objects, for the objects of the types that hold no relation (the
  // people).
  function defaultMatrix(res) {
    const ofType = (t) => res.objects.filter((o) => o.startsWith(t + ":"));
    const target = res.types.find((t) => t.permissions.length && ofType(t.name).length);
    const people = res.types.filter((t) => !t.relations.length && !t.permissions.length).flatMap((t) => ofType(t.name));
    if (!target || !people.length) return;
    state.matrix = { preset: "custom", targets: target.name, subjects: people.slice(0, 12).join(", "), permissions: "" };
    showMatrixForm();
  }

  let matrixSeq = 0;
  async function refreshMatrix() {
    if (!state.matrix.targets || !state.matrix.subjects) return;
    const seq = ++matrixSeq;
    const note = $("matrix-note");
    try {
      const res = await api("api/matrix", {
        state: apiState(), targets: split(state.matrix.targets), subjects: split(state.matrix.subjects),
        permissions: split(state.matrix.permissions),
      });
      if (seq !== matrixSeq) return;
      matrixData = res;
      renderMatrix();
    } catch (e) {
      if (seq === matrixSeq) showError(note, e);
    }
  }

  function flipOf(resource, permission, subject) {
    const k = `${resource}|${permission}|${subject}`;
    if (flips.cells.has(k)) return flips.cells.get(k);
    const type = subject.split(":")[0];
    const id = subject.slice(type.length + 1);
    const w = flips.wild.get(`${resource}|${permission}|${type}`);
    if (w && !w.except.has(id)) return w;
    return null;
  }

  function renderMatrix() {
    const m = matrixData;
    const host = $("matrix");
    if (!m) return;
    const single = new Set(m.rows.map((r) => r.resource)).size === 1;
    const table = el("table", { class: "matrix", id: "matrix-table" });
    const head = el("tr");
    if (single) head.append(el("th", { class: "res", text: m.rows.length ? m.rows[0].resource : "" }));
    else head.append(el("th", { class: "res", text: "resource" }), el("th", { class: "perm", text: "permission" }));
    for (const s of m.subjects) head.append(el("th", { text: s }));
    table.append(el("thead", {}, head));
    const body = el("tbody");
    let prev = "";
    let nflip = 0;
    for (const r of m.rows) {
      const tr = el("tr", { class: r.resource !== prev && prev !== "" ? "group-start" : "" });
      if (!single) tr.append(el("th", { class: "res", text: r.resource !== prev ? r.resource : "" }));
      prev = r.resource;
      tr.append(el("th", { class: "perm", text: r.permission }));
      r.cells.forEach((c, j) => {
        const subj = m.subjects[j];
        const f = flipOf(r.resource, r.permission, subj);
        const td = el("td", { class: `cell ${c}`, "data-resource": r.resource, "data-permission": r.permission, "data-subject": subj, title: `${r.resource}#${r.permission}@${subj}: ${c}` });
        td.textContent = ICON[c];
        if (f) {
          nflip++;
          td.classList.add("flip");
          td.textContent = `${ICON[f.before]}→${ICON[f.after]}`;
          td.title += ` (was ${f.before} with the baseline schema)`;
        }
        td.addEventListener("click", () => {
          $("check-resource").value = r.resource;
          $("check-permission").value = r.permission;
          $("check-subject").value = subj;
          selectTab("query", "check");
          runCheck();
        });
        tr.append(td);
      });
      body.append(tr);
    }
    table.append(body);
    host.replaceChildren(table);
    const note = $("matrix-note");
    note.className = "note legend";
    note.innerHTML = `<span class="allowed">✓ allowed</span><span class="denied">✗ denied</span><span class="conditional">? conditional</span>` +
      (flips.total ? `<span class="flipkey">✓→✗</span><span id="matrix-flips">${nflip} cell${nflip === 1 ? "" : "s"} here would flip with your schema edits (${flips.total} in all: see Changes)</span>` : "<span>click a cell for its proof</span>");
    hooks.matrix++;
  }

  // ---- Impact of the edits ------------------------------------------------------
  let impactSeq = 0;
  async function refreshImpact() {
    const seq = ++impactSeq;
    if (!state.baseline || state.baseline.trim() === state.schema.trim()) {
      setFlips(null);
      return;
    }
    try {
      const res = await api("api/impact", { state: apiState(), baseline: state.baseline });
      if (seq !== impactSeq) return;
      setFlips(res);
    } catch (e) {
      if (seq === impactSeq) {
        setFlips(null);
        $("changes-summary").textContent = e.message;
      }
    }
  }

  function setFlips(res) {
    flips = { cells: new Map(), wild: new Map(), total: 0, touched: new Set() };
    const host = $("changes");
    if (res) {
      const imp = res.impact;
      flips.total = res.total;
      for (const t of imp.touched) flips.touched.add(t);
      for (const c of imp.cells) {
        const [type, id] = [c.subject.split(":")[0], c.subject.split(":").slice(1).join(":")];
        if (id === "*") flips.wild.set(`${c.resource}|${c.permission}|${type}`, { before: c.before, after: c.after, except: new Set(c.except || []) });
        else flips.cells.set(`${c.resource}|${c.permission}|${c.subject}`, c);
      }
      const fc = $("flip-count");
      fc.textContent = res.total ? String(res.total) : "";
      fc.classList.toggle("flip", res.total > 0);
      $("changes-summary").textContent = `${imp.changes.length} schema change${imp.changes.length === 1 ? "" : "s"}; ${res.total} answer${res.total === 1 ? "" : "s"} would flip on these relationships`;
      const parts = [el("h3", { text: "Schema changes (from the baseline)" }), el("ul", {}, ...imp.changes.map((c) => el("li", { class: "schema-change", text: c })))];
      if (imp.touched.length) parts.push(el("div", { class: "note", text: `rules changed: ${imp.touched.join(", ")}; depending on them: ${imp.dependents.join(", ") || "none"}` }));
      let group = "";
      let ul;
      for (const c of imp.cells) {
        const key = `${c.resource.split(":")[0]}#${c.permission}`;
        if (key !== group) {
          group = key;
          ul = el("ul");
          parts.push(el("h3", { text: key }), ul);
        }
        const who = c.subject.endsWith(":*") ? `${c.subject} (any other ${c.subject.split(":")[0]})` : c.subject;
        ul.append(el("li", {}, `${c.resource}  ${who}  `, el("span", { class: "arrow", text: `${ICON[c.before]} → ${ICON[c.after]}` })));
      }
      if (res.total > imp.cells.length) parts.push(el("div", { class: "note", text: `… and ${res.total - imp.cells.length} more (reach schema diff --impact lists them all)` }));
      host.replaceChildren(...parts);
    } else {
      $("flip-count").textContent = "";
      $("changes-summary").textContent = "No change from the baseline schema.";
      host.replaceChildren(el("div", { class: "note", text: "Edit the schema: the answers your edit would flip appear here and in the matrix." }));
    }
    hooks.impact++;
    renderMatrix();
    drawGraph();
  }

  // ---- Tabs -----------------------------------------------------------------------
  function selectTab(group, name) {
    const panel = group === "data" ? $("data-panel") : $("query-panel");
    for (const b of panel.querySelectorAll("[data-tab]")) b.classList.toggle("active", b.dataset.tab === name);
    for (const b of panel.querySelectorAll("[data-body]")) b.hidden = b.dataset.body !== name;
    if (group === "data") state.dataTab = name;
    else state.queryTab = name;
    saveSoon();
  }

  // ---- Loading and saving -----------------------------------------------------------
  function loadState(st, opts = {}) {
    state.schema = st.schema || "";
    state.relationships = st.relationships || "";
    state.assertions = st.assertions || "";
    state.validation = st.validation || "";
    state.baseline = opts.baseline ?? state.schema;
    editors.schema.value = state.schema;
    editors.relationships.value = state.relationships;
    editors.assertions.value = state.assertions;
    analyze();
    saveSoon();
  }

  async function loadSeed(name) {
    if (!name) return;
    setStatus(`loading ${name}…`);
    const res = await api(`api/seeds/${encodeURIComponent(name)}`);
    state.model = name;
    $("model-select").value = name;
    presets = res.presets;
    state.matrix.preset = 0;
    fillPresets();
    if (presets.length) applyPreset(0);
    const p = presets[0];
    if (p) {
      const res0 = p.targets[0].includes(":") ? p.targets[0] : "";
      $("check-resource").value = res0;
      $("check-subject").value = p.subjects[1] || p.subjects[0];
    }
    loadState(res.state);
  }

  async function openFiles(files) {
    const texts = {};
    let yamlName = "";
    for (const f of files) {
      texts[f.name] = await f.text();
      if (/\.ya?ml$/i.test(f.name)) yamlName = f.name;
    }
    try {
      if (!yamlName) {
        const zed = Object.keys(texts)[0];
        loadState({ schema: texts[zed], relationships: state.relationships, assertions: state.assertions });
      } else {
        const others = Object.fromEntries(Object.entries(texts).filter(([n]) => n !== yamlName));
        const res = await api("api/file/parse", { name: yamlName, yaml: texts[yamlName], files: others });
        loadState(res.state);
      }
      state.model = "";
      $("model-select").value = "";
      presets = [];
      state.matrix = { preset: "custom", targets: "", subjects: "", permissions: "" };
      matrixData = null;
      $("matrix").replaceChildren();
      $("matrix-note").textContent = "";
      fillPresets();
      showMatrixForm();
      setStatus(`opened ${Object.keys(texts).join(", ")}`);
    } catch (e) {
      setStatus(e.message, true);
    }
  }

  async function saveFile() {
    try {
      const res = await api("api/file/save", { ...apiState(), validation: state.validation });
      const a = el("a", { href: URL.createObjectURL(new Blob([res.yaml], { type: "application/yaml" })), download: `${state.model || "playground"}.yaml` });
      document.body.append(a);
      a.click();
      a.remove();
      setStatus("saved");
    } catch (e) {
      setStatus(e.message, true);
    }
  }

  // The fragment: the state as JSON, deflated and in base64url.
  async function encodeFragment() {
    const json = new TextEncoder().encode(JSON.stringify(state));
    let bytes = json, tag = "j";
    if (window.CompressionStream) {
      const cs = new Blob([json]).stream().pipeThrough(new CompressionStream("deflate-raw"));
      bytes = new Uint8Array(await new Response(cs).arrayBuffer());
      tag = "z";
    }
    let bin = "";
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return `${tag}=${btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`;
  }
  async function decodeFragment(frag) {
    const m = /^([jz])=(.*)$/.exec(frag);
    if (!m) return null;
    const bin = atob(m[2].replace(/-/g, "+").replace(/_/g, "/"));
    let bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    if (m[1] === "z") {
      const ds = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
      bytes = new Uint8Array(await new Response(ds).arrayBuffer());
    }
    return JSON.parse(new TextDecoder().decode(bytes));
  }
  let lastFragment = "";
  const saveSoon = debounce(async () => {
    const f = await encodeFragment();
    lastFragment = f;
    history.replaceState(null, "", "#" + f);
  }, 400);

  async function restoreFragment() {
    const frag = location.hash.slice(1);
    if (!frag || frag === lastFragment) return false;
    let saved;
    try {
      saved = await decodeFragment(frag);
    } catch (e) {
      setStatus(`the link's state cannot be read: ${e.message}`, true);
      return false;
    }
    if (!saved) return false;
    Object.assign(state, saved);
    if (state.model) {
      try {
        presets = (await api(`api/seeds/${encodeURIComponent(state.model)}`)).presets;
      } catch {
        presets = [];
      }
    }
    $("model-select").value = state.model || "";
    fillPresets();
    showMatrixForm();
    for (const k of ["resource", "permission", "subject", "context"]) $(`check-${k}`).value = state.check[k] || "";
    selectTab("data", state.dataTab || "relationships");
    selectTab("query", state.queryTab || "matrix");
    loadState(state, { baseline: saved.baseline });
    return true;
  }

  // ---- Wiring ---------------------------------------------------------------------------
  function onEdit(which) {
    return () => {
      state[which] = editors[which].value;
      analyzeSoon();
      saveSoon();
    };
  }
  editors.schema.ta.addEventListener("input", onEdit("schema"));
  editors.relationships.ta.addEventListener("input", onEdit("relationships"));
  editors.assertions.ta.addEventListener("input", onEdit("assertions"));

  for (const b of document.querySelectorAll("#data-panel [data-tab]")) b.addEventListener("click", () => selectTab("data", b.dataset.tab));
  for (const b of document.querySelectorAll("#query-panel [data-tab]")) b.addEventListener("click", () => selectTab("query", b.dataset.tab));

  $("model-select").addEventListener("change", (e) => loadSeed(e.target.value).catch((err) => setStatus(err.message, true)));
  $("open-button").addEventListener("click", () => $("open-input").click());
  $("open-input").addEventListener("change", (e) => {
    if (e.target.files.length) openFiles([...e.target.files]);
    e.target.value = "";
  });
  $("save-button").addEventListener("click", saveFile);
  $("link-button").addEventListener("click", async () => {
    const f = await encodeFragment();
    history.replaceState(null, "", "#" + f);
    lastFragment = f;
    try {
      await navigator.clipboard.writeText(location.href);
      setStatus("link copied: it restores this whole page");
    } catch {
      setStatus("the address bar holds the link to this page");
    }
  });
  $("graph-arrows").addEventListener("change", drawGraph);
  $("graph-permissions").addEventListener("change", drawGraph);
  $("graph-fit").addEventListener("click", () => {
    graphScale = graphScale ? 0 : 1;
    applyGraphScale();
  });
  window.addEventListener("resize", debounce(drawGraph, 200));

  $("matrix-preset").addEventListener("change", (e) => {
    if (e.target.value !== "custom") {
      applyPreset(+e.target.value);
      refreshMatrix();
      saveSoon();
    }
  });
  $("matrix-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.matrix = { preset: "custom", targets: $("matrix-targets").value, subjects: $("matrix-subjects").value, permissions: $("matrix-permissions").value };
    $("matrix-preset").value = "custom";
    refreshMatrix();
    saveSoon();
  });
  $("check-form").addEventListener("submit", (e) => {
    e.preventDefault();
    runCheck();
  });
  $("lr-form").addEventListener("submit", (e) => {
    e.preventDefault();
    runLookupResources();
  });
  $("ls-form").addEventListener("submit", (e) => {
    e.preventDefault();
    runLookupSubjects();
  });
  $("expand-form").addEventListener("submit", (e) => {
    e.preventDefault();
    runExpand();
  });
  $("baseline-button").addEventListener("click", () => {
    state.baseline = state.schema;
    refreshImpact();
    saveSoon();
  });
  window.addEventListener("hashchange", () => restoreFragment());

  (async () => {
    try {
      const seeds = await api("api/seeds");
      $("model-select").append(...seeds.map((s) => el("option", { value: s.name, text: s.title })));
      if (!(await restoreFragment())) await loadSeed("gifting");
    } catch (e) {
      setStatus(e.message, true);
    }
  })();
})();
