// The results player. Runs as a gr.HTML `js_on_load` body with `element` in scope.
//
// One clock: the <video> is the source of the current time. Every other part (frame scrubber, time
// label, bars, timeline cursor, the highlighted "Find moments" chip) follows it through `sync`, and
// each of them sets it through `setTime`, which seeks the video. The server renders a `.lart-player`
// root carrying the timeline data in `data-payload`; Gradio replaces the root's HTML whenever a new
// result arrives, so every listener is delegated from `element`.
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const H = 180, PAD = 8;

  function rootEl() { return element.querySelector(".lart-player"); }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }
  function clamp(v, lo, hi) { return Math.min(Math.max(v, lo), hi); }

  function state(root) {
    if (!root) return null;
    if (root._lp) return root._lp;
    let data;
    try { data = JSON.parse(root.dataset.payload || "{}"); } catch (e) { return null; }
    const fps = data.fps || 25, nFrames = Math.max(data.n_frames || 1, 1);
    const people = data.people || [];
    const st = {
      data, people, fps, nFrames, duration: nFrames / fps, video: root.querySelector("video.lp-video"),
      view: "person", person: people.length ? people[0].id : null, action: null, hidden: new Set(),
      open: new Set(), barsFrame: -1, t: 0,
    };
    const traced = Object.keys(data.colors || {});
    st.action = (people.length && people[0].traces[0]) || traced[0] || (data.names || [])[0] || null;
    root._lp = st;
    build(root, st);
    return st;
  }

  // ---------------------------------------------------------------------------------------- time
  function frameOf(st, t) { return clamp(Math.floor(t * st.fps + 1e-6), 0, st.nFrames - 1); }
  function frameTime(st, f) { return (clamp(f, 0, st.nFrames - 1) + 0.5) / st.fps; }
  function indexOf(person, frame) {  // position of `frame` in the person's ascending frames, or -1
    let lo = 0, hi = person.frames.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1, f = person.frames[mid];
      if (f === frame) return mid;
      if (f < frame) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
  }

  function setTime(root, st, t) {
    t = clamp(t, 0, st.duration);
    if (st.video) { try { st.video.currentTime = t; } catch (e) { /* not loaded yet: sync anyway */ } }
    sync(root, st, t);
  }

  function sync(root, st, t) {
    t = clamp(t, 0, st.duration);
    st.t = t;
    const frame = frameOf(st, t);
    const scrub = root.querySelector("input.lp-scrubber");
    if (scrub && Number(scrub.value) !== frame) scrub.value = String(frame);
    const label = root.querySelector(".lp-scrub-time");
    if (label) label.textContent = `${t.toFixed(2)} s · frame ${frame + 1} of ${st.nFrames}`;
    const cursor = root.querySelector(".lp-cursor");
    if (cursor) cursor.style.left = `${(t / st.duration * 100).toFixed(3)}%`;
    const wrap = root.querySelector(".lp-chart-wrap");
    if (wrap) { wrap.setAttribute("aria-valuenow", t.toFixed(2)); wrap.setAttribute("aria-valuetext", `${t.toFixed(2)} s`); }
    if (frame !== st.barsFrame) {
      drawBars(root, st, frame);
      if (st.video && st.video.paused) push3dFrame(frame);  // not while playing: one GLB per frame is too many
    }
    root.dataset.currentTime = t.toFixed(3);
    root.dataset.frame = String(frame);
    document.querySelectorAll("#lart-segments button.lp-seg").forEach(b => {
      const inside = Number(b.dataset.t) <= t + 1e-3 && t < Number(b.dataset.end);
      b.classList.toggle("current", inside);
      b.setAttribute("aria-pressed", inside ? "true" : "false");
    });
  }

  // the actions.vtt text track: the button and the video's own CC menu both switch it
  function setCaptions(root, st, on) {
    const track = st.video && st.video.textTracks[0];
    if (track) track.mode = on ? "showing" : "hidden";
    const cc = root.querySelector("button.lp-cc");
    if (cc) { cc.setAttribute("aria-pressed", String(on)); cc.textContent = on ? "Captions: on" : "Captions: off"; }
    root.dataset.captions = on ? "showing" : "hidden";
  }

  // the 3D view (a Gradio slider + Model3D beside the player) follows the clock's frame
  function push3dFrame(frame) {
    const range = document.querySelector("#lart-3d-frame input[type=range]");
    if (!range || range.value === String(frame)) return;
    range.value = String(frame);
    range.dispatchEvent(new Event("input", { bubbles: true }));
    range.dispatchEvent(new Event("change", { bubbles: true }));
  }

  // ------------------------------------------------------------------------------------------ bars
  function barRow(p, name, v) {
    return `<div class="lp-bar" data-tid="${p.id}" data-action="${esc(name)}" data-prob="${v}">` +
      `<span class="lp-bar-name" title="${esc(name)}">${esc(name)}</span>` +
      `<span class="lp-bar-track"><span class="fill" style="width:${(v * 100).toFixed(1)}%;background:${esc(p.color)}"></span></span>` +
      `<span class="lp-bar-val">${Math.round(v * 100)}%</span></div>`;
  }

  function drawBars(root, st, frame) {
    const bars = root.querySelector(".lp-bars");
    if (!bars) return;
    const shown = st.data.bar_shown || 3;
    const html = [];
    for (const p of st.people) {
      const j = indexOf(p, frame);
      if (j < 0) continue;
      const ranked = p.actions.map(a => [a, p.probs[a][j]]).sort((a, b) => b[1] - a[1]);
      const top = ranked.slice(0, shown), rest = ranked.slice(shown);
      html.push(`<div class="lp-bar-person" data-tid="${p.id}"><div class="lp-bar-head">` +
        `<span class="lp-chip" style="background:${esc(p.color)}"></span>#${p.id}</div>` +
        top.map(([a, v]) => barRow(p, a, v)).join("") +
        (rest.length ? `<details class="lp-more" data-tid="${p.id}"${st.open.has(p.id) ? " open" : ""}>` +
          `<summary>${rest.length} more</summary>${rest.map(([a, v]) => barRow(p, a, v)).join("")}</details>` : "") +
        `</div>`);
    }
    bars.innerHTML = html.join("") || `<span class="lp-empty">Nobody is in view at this moment.</span>`;
    st.barsFrame = frame;
    root.dataset.barsFrame = String(frame);
  }

  // ------------------------------------------------------------------------------------- timeline
  function heatValue(st, person, action, bin) {
    const row = person.heat[(st.data.names || []).indexOf(action)];
    if (!row || row[bin] === ".") return null;
    return (st.data.heat_levels || "").indexOf(row[bin]) / ((st.data.heat_levels || " ").length - 1);
  }

  function lineSeries(st) {
    // [{key, label, color, points: [[t, p], ...]}] for the person and action views
    const colors = st.data.colors || {};
    if (st.view === "person") {
      const p = st.people.find(q => q.id === st.person);
      if (!p) return [];
      return p.traces.map(a => ({
        key: a, label: a, color: colors[a] || "#888",
        points: p.frames.map((f, j) => [(f + 0.5) / st.fps, p.probs[a][j]]),
      }));
    }
    const bins = st.data.heat_bins || 1;
    return st.people.map(p => {
      let points;
      if (p.probs[st.action]) points = p.frames.map((f, j) => [(f + 0.5) / st.fps, p.probs[st.action][j]]);
      else {
        points = [];
        for (let b = 0; b < bins; b++) {
          const v = heatValue(st, p, st.action, b);
          if (v !== null) points.push([(b + 0.5) / bins * st.duration, v]);
        }
      }
      return { key: String(p.id), label: `#${p.id}`, color: p.color, points };
    });
  }

  function svgEl(name, attrs) {
    const el = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    return el;
  }

  function drawChart(root, st) {
    const plot = root.querySelector(".lp-plot"), ylabels = root.querySelector(".lp-ylabels");
    const legend = root.querySelector(".lp-legend");
    if (!plot || !ylabels || !legend) return;
    root.dataset.view = st.view;
    plot.querySelectorAll("svg, canvas").forEach(n => n.remove());
    root.querySelectorAll(".lp-view").forEach(b => b.setAttribute("aria-selected", b.dataset.view === st.view ? "true" : "false"));
    root.querySelector(".lp-people").hidden = st.view === "action";
    root.querySelector(".lp-action-label").hidden = st.view !== "action";
    root.querySelectorAll("button.lp-person").forEach(b => b.classList.toggle("active", Number(b.dataset.tid) === st.person));
    if (st.view === "heat") return drawHeat(root, st, plot, ylabels, legend);
    const svg = svgEl("svg", { class: "lp-chart", viewBox: `0 0 1000 ${H}`, preserveAspectRatio: "none" });
    const y = p => H - PAD - p * (H - 2 * PAD);
    if (st.view === "person") {
      const p = st.people.find(q => q.id === st.person);
      if (p) svg.appendChild(svgEl("rect", { class: "lp-span", x: p.start / st.duration * 1000, y: 0,
        width: Math.max((p.end - p.start) / st.duration * 1000, 1), height: H, fill: p.color, "fill-opacity": "0.10" }));
    }
    for (const level of [0, 0.5, 1]) {
      svg.appendChild(svgEl("line", { class: "lp-grid", x1: 0, x2: 1000, y1: y(level), y2: y(level), "vector-effect": "non-scaling-stroke" }));
    }
    const series = lineSeries(st);
    for (const s of series) {
      const line = svgEl("polyline", {
        class: "lp-trace", "data-key": s.key, fill: "none", stroke: s.color, "stroke-width": "2", "vector-effect": "non-scaling-stroke",
        points: s.points.map(([t, v]) => `${(t / st.duration * 1000).toFixed(2)},${y(v).toFixed(2)}`).join(" "),
      });
      if (st.view === "person") line.setAttribute("data-action", s.key); else line.setAttribute("data-tid", s.key);
      if (st.hidden.has(`${st.view}:${s.key}`)) line.classList.add("off");
      svg.appendChild(line);
    }
    plot.insertBefore(svg, plot.firstChild);
    ylabels.className = "lp-ylabels lp-yprob";
    ylabels.innerHTML = [1, 0.5, 0].map(v => `<span style="top:${(y(v) / H * 100).toFixed(1)}%">${v * 100}%</span>`).join("");
    legend.innerHTML = series.map(s => {
      const off = st.hidden.has(`${st.view}:${s.key}`);
      return `<button type="button" class="lp-legend-item${off ? " off" : ""}" data-key="${esc(s.key)}" aria-pressed="${off ? "false" : "true"}" ` +
        `title="show or hide this line"><i style="background:${esc(s.color)}"></i>${esc(s.label)}</button>`;
    }).join("") || `<span class="lp-empty">Nobody was tracked in this clip.</span>`;
  }

  function heatColor(v) {  // light yellow -> dark purple (perceptually ordered, readable in both themes)
    const stops = [[255, 247, 188], [254, 196, 79], [236, 112, 20], [153, 52, 4], [60, 10, 80]];
    const x = clamp(v, 0, 1) * (stops.length - 1), i = Math.min(Math.floor(x), stops.length - 2), f = x - i;
    return stops[i].map((c, k) => Math.round(c + (stops[i + 1][k] - c) * f));
  }

  function drawHeat(root, st, plot, ylabels, legend) {
    const p = st.people.find(q => q.id === st.person);
    const names = st.data.names || [], bins = st.data.heat_bins || 1;
    if (!p) { ylabels.innerHTML = ""; legend.innerHTML = ""; return; }
    const levels = st.data.heat_levels || " ";
    const mean = p.heat.map(row => {
      let s = 0, n = 0;
      for (const c of row) if (c !== ".") { s += levels.indexOf(c); n++; }
      return n ? s / n : 0;
    });
    const order = names.map((_, i) => i).sort((a, b) => mean[b] - mean[a] || a - b);
    const canvas = document.createElement("canvas");
    canvas.className = "lp-heat";
    canvas.width = bins; canvas.height = order.length;
    canvas.dataset.rows = order.map(i => names[i]).join("|");
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(bins, order.length);
    order.forEach((a, r) => {
      for (let b = 0; b < bins; b++) {
        const c = p.heat[a][b], o = (r * bins + b) * 4;
        const rgb = c === "." ? [128, 128, 128] : heatColor(levels.indexOf(c) / (levels.length - 1));
        img.data[o] = rgb[0]; img.data[o + 1] = rgb[1]; img.data[o + 2] = rgb[2]; img.data[o + 3] = c === "." ? 40 : 255;
      }
    });
    ctx.putImageData(img, 0, 0);
    plot.insertBefore(canvas, plot.firstChild);
    ylabels.className = "lp-ylabels lp-ynames";
    ylabels.innerHTML = order.map(i => `<span title="${esc(names[i])}">${esc(names[i])}</span>`).join("");
    legend.innerHTML = `<span class="lp-scale">0%<i></i>100%</span><span class="lp-note">All ${names.length} actions of #${p.id}, ` +
      `most likely first; grey where #${p.id} is not in view.</span>`;
  }

  function drawAxis(root, st) {
    const axis = root.querySelector(".lp-xaxis");
    if (!axis) return;
    const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300];
    const step = steps.find(s => st.duration / s <= 8) || 600;
    const ticks = [];
    for (let t = 0; t <= st.duration + 1e-9; t += step) ticks.push(t);
    const digits = step < 1 ? 1 : 0;
    axis.innerHTML = ticks.map(t => `<span style="left:${(t / st.duration * 100).toFixed(2)}%">${t.toFixed(digits)}</span>`).join("") +
      `<em class="lp-unit">time (s)</em>`;
  }

  function build(root, st) {
    const picker = root.querySelector(".lp-people");
    if (picker) {
      picker.innerHTML = st.people.map(p =>
        `<button type="button" class="lp-person" data-tid="${p.id}" title="person #${p.id}">` +
        `<span class="lp-chip" style="background:${esc(p.color)}"></span>` +
        (p.thumb ? `<img alt="" src="${esc(p.thumb)}">` : "") +
        `<span>#${p.id} · ${p.start.toFixed(1)}–${p.end.toFixed(1)} s</span></button>`).join("");
    }
    const select = root.querySelector("select.lp-action-pick");
    if (select) {
      const traced = Object.keys(st.data.colors || {});
      const names = traced.concat((st.data.names || []).filter(n => !traced.includes(n)));
      select.innerHTML = [...new Set(names)].map(n => `<option value="${esc(n)}">${esc(n)}</option>`).join("");
      if (st.action) select.value = st.action;
    }
    const scrub = root.querySelector("input.lp-scrubber");
    if (scrub) scrub.max = String(st.nFrames - 1);
    const wrap = root.querySelector(".lp-chart-wrap");
    if (wrap) wrap.setAttribute("aria-valuemax", st.duration.toFixed(2));
    drawAxis(root, st);
    drawChart(root, st);
    sync(root, st, st.video ? st.video.currentTime || 0 : 0);
  }

  function timeFromPointer(plot, st, ev) {
    const r = plot.getBoundingClientRect();
    return clamp((ev.clientX - r.left) / Math.max(r.width, 1), 0, 1) * st.duration;
  }

  function showTip(root, st, plot, ev) {
    const tip = root.querySelector(".lp-tooltip");
    if (!tip) return;
    const t = timeFromPointer(plot, st, ev), frame = frameOf(st, t);
    const lines = [`${t.toFixed(2)} s · frame ${frame + 1}`];
    if (st.view === "heat") {
      const p = st.people.find(q => q.id === st.person);
      const canvas = plot.querySelector("canvas.lp-heat");
      if (p && canvas) {
        const rows = canvas.dataset.rows.split("|"), r = plot.getBoundingClientRect();
        const name = rows[clamp(Math.floor((ev.clientY - r.top) / Math.max(r.height, 1) * rows.length), 0, rows.length - 1)];
        const v = heatValue(st, p, name, clamp(Math.floor(t / st.duration * (st.data.heat_bins || 1)), 0, (st.data.heat_bins || 1) - 1));
        lines.push(v === null ? `#${p.id} not in view` : `${name}: ${(v * 100).toFixed(0)}%`);
      }
    } else {
      for (const s of lineSeries(st)) {
        if (st.hidden.has(`${st.view}:${s.key}`)) continue;
        let best = null;
        for (const pt of s.points) if (Math.abs(pt[0] - t) <= 0.75 / st.fps + (st.view === "action" ? st.duration / (st.data.heat_bins || 1) : 0)) best = pt;
        lines.push(best ? `${s.label}: ${(best[1] * 100).toFixed(1)}%` : `${s.label}: not in view`);
      }
    }
    tip.innerHTML = lines.map(esc).join("<br>");
    const wr = root.querySelector(".lp-chart-wrap").getBoundingClientRect();
    tip.style.left = `${clamp(ev.clientX - wr.left + 12, 0, Math.max(wr.width - 170, 0))}px`;
    tip.style.top = `${clamp(ev.clientY - wr.top + 12, 0, Math.max(wr.height - 40, 0))}px`;
    tip.style.display = "block";
  }

  // ------------------------------------------------------------------------------ event delegation
  element.addEventListener("click", ev => {
    const root = rootEl(), st = state(root);
    if (!st) return;
    const cc = ev.target.closest("button.lp-cc");
    if (cc) { setCaptions(root, st, cc.getAttribute("aria-pressed") !== "true"); return; }
    const person = ev.target.closest("button.lp-person");
    if (person) { st.person = Number(person.dataset.tid); drawChart(root, st); return; }
    const view = ev.target.closest("button.lp-view");
    if (view) { st.view = view.dataset.view; drawChart(root, st); return; }
    const item = ev.target.closest("button.lp-legend-item");
    if (item) {
      const key = `${st.view}:${item.dataset.key}`;
      if (st.hidden.has(key)) st.hidden.delete(key); else st.hidden.add(key);
      drawChart(root, st);
      const again = root.querySelector(`button.lp-legend-item[data-key="${CSS.escape(item.dataset.key)}"]`);
      if (again) again.focus();
    }
  });
  element.addEventListener("change", ev => {
    if (!ev.target.matches("select.lp-action-pick")) return;
    const root = rootEl(), st = state(root);
    if (st) { st.action = ev.target.value; drawChart(root, st); }
  });
  element.addEventListener("toggle", ev => {
    if (!ev.target.matches || !ev.target.matches("details.lp-more")) return;
    const st = state(rootEl()), tid = Number(ev.target.dataset.tid);
    if (st) { if (ev.target.open) st.open.add(tid); else st.open.delete(tid); }
  }, true);

  let dragging = null;
  element.addEventListener("pointerdown", ev => {
    const plot = ev.target.closest(".lp-plot");
    const root = rootEl(), st = state(root);
    if (!plot || !st) return;
    dragging = plot;
    try { plot.setPointerCapture(ev.pointerId); } catch (e) { /* synthetic events have no capture */ }
    if (st.video) st.video.pause();
    setTime(root, st, timeFromPointer(plot, st, ev));
  });
  element.addEventListener("pointerup", () => { dragging = null; });
  element.addEventListener("pointermove", ev => {
    const plot = ev.target.closest(".lp-plot") || dragging;
    const root = rootEl(), st = state(root);
    if (!plot || !st) return;
    if (dragging && ev.buttons) setTime(root, st, timeFromPointer(plot, st, ev));
    showTip(root, st, plot, ev);
  });
  // pointerleave does not bubble; in the capture phase it arrives for every child left, so only the plot counts
  element.addEventListener("pointerleave", ev => {
    if (!ev.target.matches || !ev.target.matches(".lp-plot")) return;
    const tip = element.querySelector(".lp-tooltip");
    if (tip) tip.style.display = "none";
  }, true);

  element.addEventListener("keydown", ev => {
    if (!ev.target.matches(".lp-chart-wrap")) return;
    const root = rootEl(), st = state(root);
    if (!st) return;
    const frame = frameOf(st, st.t), second = Math.round(st.fps);
    const to = {
      ArrowRight: frame + (ev.shiftKey ? second : 1), ArrowLeft: frame - (ev.shiftKey ? second : 1),
      ArrowUp: frame + 1, ArrowDown: frame - 1, PageUp: frame + second, PageDown: frame - second,
      Home: 0, End: st.nFrames - 1,
    }[ev.key];
    if (to === undefined) return;
    ev.preventDefault();
    if (st.video) st.video.pause();
    setTime(root, st, frameTime(st, to));
  });

  element.addEventListener("input", ev => {
    if (!ev.target.matches("input.lp-scrubber")) return;
    const root = rootEl(), st = state(root);
    if (!st) return;
    if (st.video) st.video.pause();
    setTime(root, st, frameTime(st, Number(ev.target.value)));
  });

  // media events do not bubble: listen in the capture phase
  for (const name of ["timeupdate", "seeked", "loadedmetadata"]) {
    element.addEventListener(name, ev => {
      if (!ev.target.matches || !ev.target.matches("video.lp-video")) return;
      const root = rootEl(), st = state(root);
      if (st) sync(root, st, ev.target.currentTime);
    }, true);
  }

  // follow playback smoothly (timeupdate fires only ~4 times a second)
  function tick() {
    const root = rootEl(), st = root && root._lp;
    if (st && st.video && !st.video.paused && !st.video.seeking) sync(root, st, st.video.currentTime);
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);

  // a new result replaces the root: build it as soon as it appears
  new MutationObserver(() => { const r = rootEl(); if (r && !r._lp) state(r); })
    .observe(element, { childList: true, subtree: true });
  state(rootEl());
})();
