// Synced player for lart-demo results. Runs as a gr.HTML `js_on_load` body with `element` in scope.
// The server renders a `.lart-player` root carrying the timeline data in `data-payload`; this script
// draws the per-person charts, keeps a cursor on the playing video, seeks on click/drag, and drives the
// frame scrubber + bar charts. It uses event delegation on `element`, because Gradio replaces the
// root's HTML whenever a new result arrives.
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const H = 180, PAD = 6;
  const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c"];

  function rootEl() { return element.querySelector(".lart-player"); }

  function state(root) {
    if (!root) return null;
    if (root._lp) return root._lp;
    let data;
    try { data = JSON.parse(root.dataset.payload || "{}"); } catch (e) { return null; }
    const video = root.querySelector("video.lp-video");
    const fps = data.fps || 25;
    const duration = Math.max((data.n_frames || 1) / fps, 1e-6);
    root._lp = { data, video, fps, duration, active: null };
    build(root, root._lp);
    return root._lp;
  }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  function xOf(st, t) { return (t / st.duration) * 1000; }
  function yOf(p) { return H - PAD - p * (H - 2 * PAD); }

  function frameIndex(person, frame) {
    // position of `frame` in the person's ascending frame list, or -1
    let lo = 0, hi = person.frames.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1, f = person.frames[mid];
      if (f === frame) return mid;
      if (f < frame) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
  }

  function build(root, st) {
    const people = st.data.people || [];
    const picker = root.querySelector(".lp-people");
    const wrap = root.querySelector(".lp-chart-wrap");
    if (!picker || !wrap) return;
    picker.innerHTML = people.map(p =>
      `<button type="button" class="lp-person" data-tid="${p.id}" title="person #${p.id}">` +
      `<span class="lp-chip" style="background:${esc(p.color)}"></span>` +
      (p.thumb ? `<img alt="" src="${esc(p.thumb)}">` : "") +
      `<span>#${p.id} · ${p.start.toFixed(1)}–${p.end.toFixed(1)} s</span></button>`).join("") ||
      `<span class="lp-empty">Nobody was tracked in this clip.</span>`;
    for (const p of people) {
      const svg = document.createElementNS(SVG, "svg");
      svg.setAttribute("class", "lp-chart");
      svg.setAttribute("data-tid", p.id);
      svg.setAttribute("viewBox", `0 0 1000 ${H}`);
      svg.setAttribute("preserveAspectRatio", "none");
      const span = document.createElementNS(SVG, "rect");
      span.setAttribute("x", xOf(st, p.start)); span.setAttribute("y", 0);
      span.setAttribute("width", Math.max(xOf(st, p.end) - xOf(st, p.start), 1)); span.setAttribute("height", H);
      span.setAttribute("fill", p.color); span.setAttribute("fill-opacity", "0.08");
      svg.appendChild(span);
      for (const level of [0, 0.5, 1]) {  // probability gridlines; their labels are HTML (the SVG stretches)
        const grid = document.createElementNS(SVG, "line");
        grid.setAttribute("class", "lp-grid");
        grid.setAttribute("x1", 0); grid.setAttribute("x2", 1000);
        grid.setAttribute("y1", yOf(level)); grid.setAttribute("y2", yOf(level));
        grid.setAttribute("stroke", "#999"); grid.setAttribute("stroke-opacity", "0.35");
        grid.setAttribute("stroke-dasharray", "4 4"); grid.setAttribute("vector-effect", "non-scaling-stroke");
        svg.appendChild(grid);
      }
      p.traces.forEach((name, i) => {
        const probs = p.probs[name];
        const pts = p.frames.map((f, j) => `${xOf(st, (f + 0.5) / st.fps).toFixed(2)},${yOf(probs[j]).toFixed(2)}`);
        const line = document.createElementNS(SVG, "polyline");
        line.setAttribute("class", "lp-trace");
        line.setAttribute("data-action", name);
        line.setAttribute("points", pts.join(" "));
        line.setAttribute("fill", "none");
        line.setAttribute("stroke", PALETTE[i % PALETTE.length]);
        line.setAttribute("stroke-width", "2");
        line.setAttribute("vector-effect", "non-scaling-stroke");
        svg.appendChild(line);
      });
      const cursor = document.createElementNS(SVG, "line");
      cursor.setAttribute("class", "lp-cursor");
      cursor.setAttribute("y1", 0); cursor.setAttribute("y2", H);
      cursor.setAttribute("stroke", "#111"); cursor.setAttribute("stroke-width", "2");
      cursor.setAttribute("vector-effect", "non-scaling-stroke");
      svg.appendChild(cursor);
      wrap.insertBefore(svg, wrap.querySelector(".lp-tooltip"));
    }
    if (people.length) {
      const axis = document.createElement("div");
      axis.className = "lp-axis";
      axis.innerHTML = [1, 0.5, 0].map(v => `<span style="top:${(yOf(v) / H * 100).toFixed(1)}%">${v * 100}%</span>`).join("");
      wrap.appendChild(axis);
      select(root, st, people[0].id);
    }
    const scrub = root.querySelector("input.lp-scrubber");
    if (scrub) scrub.max = Math.max((st.data.n_frames || 1) - 1, 0);
    drawBars(root, st, 0);
    moveCursor(root, st, 0);
  }

  function select(root, st, tid) {
    st.active = Number(tid);
    root.querySelectorAll("button.lp-person").forEach(b => b.classList.toggle("active", Number(b.dataset.tid) === st.active));
    root.querySelectorAll("svg.lp-chart").forEach(s => s.classList.toggle("active", Number(s.dataset.tid) === st.active));
    const p = (st.data.people || []).find(q => q.id === st.active);
    const legend = root.querySelector(".lp-legend");
    if (legend && p) {
      legend.innerHTML = p.traces.map((n, i) => `<span><i style="background:${PALETTE[i % PALETTE.length]}"></i>${esc(n)}</span>`).join("");
    }
  }

  function moveCursor(root, st, t) {
    const x = xOf(st, t);
    root.querySelectorAll("line.lp-cursor").forEach(l => { l.setAttribute("x1", x); l.setAttribute("x2", x); });
    root.dataset.cursorTime = t.toFixed(3);
  }

  function drawBars(root, st, frame) {
    const bars = root.querySelector(".lp-bars");
    if (!bars) return;
    const k = st.data.bar_k || 5;
    const html = [];
    for (const p of st.data.people || []) {
      const j = frameIndex(p, frame);
      if (j < 0) continue;
      const ranked = p.actions.map(a => [a, p.probs[a][j]]).sort((a, b) => b[1] - a[1]).slice(0, k);
      html.push(`<div class="lp-bar-person" data-tid="${p.id}"><span class="lp-chip" style="background:${esc(p.color)}"></span>#${p.id}</div>`);
      for (const [a, v] of ranked) {
        html.push(`<div class="lp-bar" data-tid="${p.id}" data-action="${esc(a)}" data-prob="${v}"><span>${esc(a)}</span>` +
          `<div class="fill" style="width:${(v * 100).toFixed(1)}%;background:${esc(p.color)}"></div><span>${Math.round(v * 100)}%</span></div>`);
      }
    }
    bars.innerHTML = html.join("") || `<span class="lp-empty">Nobody is visible at this moment.</span>`;
    root.dataset.barsFrame = String(frame);
    const label = root.querySelector(".lp-scrub-time");
    if (label) label.textContent = `frame ${frame} · ${(frame / st.fps).toFixed(2)} s`;
  }

  function drawFrame(root, st) {
    const canvas = root.querySelector("canvas.lp-frame");
    const v = st.video;
    if (!canvas || !v || !v.videoWidth) return;
    canvas.width = v.videoWidth; canvas.height = v.videoHeight;
    canvas.getContext("2d").drawImage(v, 0, 0);
    root.dataset.frameDrawn = String(Math.floor(v.currentTime * st.fps + 1e-6));
  }

  // the actions.vtt text track: the button and the video's own CC menu both switch it
  function setCaptions(root, st, on) {
    const track = st.video && st.video.textTracks[0];
    if (track) track.mode = on ? "showing" : "hidden";
    const cc = root.querySelector("button.lp-cc");
    if (cc) { cc.setAttribute("aria-pressed", String(on)); cc.textContent = on ? "Captions: on" : "Captions: off"; }
    root.dataset.captions = on ? "showing" : "hidden";
  }

  // the 3D view (a Gradio slider + Model3D beside the player) follows the scrubber
  function push3dFrame(frame) {
    const range = document.querySelector("#lart-3d-frame input[type=range]");
    if (!range || range.value === String(frame)) return;
    range.value = String(frame);
    range.dispatchEvent(new Event("input", { bubbles: true }));
    range.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function seekTo(root, st, t) {
    t = Math.min(Math.max(t, 0), st.duration);
    if (st.video) st.video.currentTime = t;
    moveCursor(root, st, t);
  }

  function timeFromPointer(svg, st, ev) {
    const r = svg.getBoundingClientRect();
    return Math.min(Math.max((ev.clientX - r.left) / Math.max(r.width, 1), 0), 1) * st.duration;
  }

  // --- event delegation -------------------------------------------------------------------------
  element.addEventListener("click", ev => {
    const b = ev.target.closest("button.lp-person");
    const root = rootEl(), st = state(root);
    if (b && st) { select(root, st, b.dataset.tid); return; }
    const cc = ev.target.closest("button.lp-cc");
    if (cc && st) { setCaptions(root, st, cc.getAttribute("aria-pressed") !== "true"); return; }
    const seg = ev.target.closest("button.lp-seg");
    if (seg && st) seekTo(root, st, Number(seg.dataset.t) + 1e-3);
  });

  let dragging = null;
  element.addEventListener("pointerdown", ev => {
    const svg = ev.target.closest("svg.lp-chart");
    const root = rootEl(), st = state(root);
    if (!svg || !st) return;
    dragging = svg;
    try { svg.setPointerCapture(ev.pointerId); } catch (e) { /* synthetic events have no capture */ }
    seekTo(root, st, timeFromPointer(svg, st, ev));
  });
  element.addEventListener("pointerup", () => { dragging = null; });
  element.addEventListener("pointermove", ev => {
    const svg = ev.target.closest("svg.lp-chart") || dragging;
    const root = rootEl(), st = state(root);
    if (!svg || !st) return;
    const t = timeFromPointer(svg, st, ev);
    if (dragging && ev.buttons) seekTo(root, st, t);
    const tip = root.querySelector(".lp-tooltip");
    const p = (st.data.people || []).find(q => q.id === Number(svg.dataset.tid));
    if (!tip || !p) return;
    const frame = Math.min(Math.floor(t * st.fps), (st.data.n_frames || 1) - 1);
    const j = frameIndex(p, frame);
    const lines = [`${t.toFixed(2)} s · frame ${frame}`];
    if (j < 0) lines.push(`#${p.id} not in view`);
    else for (const a of p.traces) lines.push(`${a}: ${(p.probs[a][j] * 100).toFixed(1)}%`);
    tip.innerHTML = lines.map(esc).join("<br>");
    const wr = svg.parentElement.getBoundingClientRect(), r = svg.getBoundingClientRect();
    tip.style.left = `${Math.min(ev.clientX - wr.left + 12, wr.width - 160)}px`;
    tip.style.top = `${r.top - wr.top + 8}px`;
    tip.style.display = "block";
  });
  // pointerleave does not bubble; in the capture phase it arrives for every child left, so only the chart counts
  element.addEventListener("pointerleave", ev => {
    if (!ev.target.matches || !ev.target.matches("svg.lp-chart")) return;
    const root = rootEl();
    const tip = root && root.querySelector(".lp-tooltip");
    if (tip) tip.style.display = "none";
  }, true);

  element.addEventListener("input", ev => {
    if (!ev.target.matches("input.lp-scrubber")) return;
    const root = rootEl(), st = state(root);
    if (!st) return;
    const frame = Number(ev.target.value);
    if (st.video) st.video.pause();
    seekTo(root, st, (frame + 0.5) / st.fps);
    drawBars(root, st, frame);
    push3dFrame(frame);
  });

  // media events do not bubble: listen in the capture phase
  element.addEventListener("timeupdate", ev => {
    if (!ev.target.matches || !ev.target.matches("video.lp-video")) return;
    const root = rootEl(), st = state(root);
    if (st) moveCursor(root, st, ev.target.currentTime);
  }, true);
  element.addEventListener("seeked", ev => {
    if (!ev.target.matches || !ev.target.matches("video.lp-video")) return;
    const root = rootEl(), st = state(root);
    if (!st) return;
    moveCursor(root, st, ev.target.currentTime);
    drawFrame(root, st);
  }, true);
  element.addEventListener("loadeddata", ev => {
    if (!ev.target.matches || !ev.target.matches("video.lp-video")) return;
    const root = rootEl(), st = state(root);
    if (st) drawFrame(root, st);
  }, true);

  // keep the cursor smooth while playing (timeupdate fires only ~4 times a second)
  function tick() {
    const root = rootEl(), st = root && root._lp;
    if (st && st.video && !st.video.paused) moveCursor(root, st, st.video.currentTime);
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);

  // a new result replaces the root: build it as soon as it appears
  new MutationObserver(() => { const r = rootEl(); if (r && !r._lp) state(r); })
    .observe(element, { childList: true, subtree: true });
  state(rootEl());
})();
