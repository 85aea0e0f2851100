// SPDX-License-Identifier: MIT
// The dashboard's charts: small SVG drawings made here, with no library (the page loads nothing
// from outside shelfd). Colours come from style.css through classes, so they follow the page's
// light and dark schemes. Every drawn mark carries its value in a data- attribute and a <title>
// (shown as a tooltip), so the numbers stay one hover away.
'use strict';
window.ShelfCharts = (() => {
  const NS = 'http://www.w3.org/2000/svg';
  const W = 600;                                   // viewBox width; the SVG scales to its box
  const M = { left: 48, right: 14, top: 12, bottom: 30 };

  function s(tag, attrs = {}, ...children) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v !== undefined && v !== null && v !== false) node.setAttribute(k, String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return node;
  }

  // The smallest 1, 2, 2.5 or 5 times a power of ten at or above v (at least 4, so a quiet
  // chart still has a readable axis).
  function niceMax(v) {
    if (!(v > 4)) return 4;
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  const number = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
  const clock = (t) => new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

  // The frame of a time chart: title, y grid with labels, x ticks with clock times, axis names.
  function timeFrame({ id, title, height, from, to, max, yLabel }) {
    const svg = s('svg', {
      id, class: 'chart time-chart', viewBox: `0 0 ${W} ${height}`, role: 'img', 'aria-label': title,
      preserveAspectRatio: 'xMidYMid meet',
    }, s('title', {}, title));
    const plotW = W - M.left - M.right, plotH = height - M.top - M.bottom;
    const x = (t) => M.left + ((t - from) / (to - from)) * plotW;
    const y = (v) => M.top + plotH - (v / max) * plotH;
    const grid = s('g', { class: 'grid' });
    const axis = s('g', { class: 'axis' });
    for (let i = 0; i <= 4; i++) {
      const v = (max / 4) * i;
      grid.append(s('line', { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v) }));
      axis.append(s('text', { x: M.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, number(v)));
    }
    const range = (to - from) / 60000;
    const step = [5, 10, 15, 30, 60, 120, 180, 240, 360].find((m) => range / m <= 7) || 720;
    const stepMs = step * 60000;
    for (let t = Math.ceil(from / stepMs) * stepMs; t <= to; t += stepMs) {
      axis.append(s('line', { class: 'tick', x1: x(t), x2: x(t), y1: M.top + plotH, y2: M.top + plotH + 4 }));
      axis.append(s('text', { x: x(t), y: height - 10, 'text-anchor': 'middle' }, clock(t)));
    }
    axis.append(s('line', { class: 'baseline', x1: M.left, x2: W - M.right, y1: y(0), y2: y(0) }));
    axis.append(s('text', {
      class: 'axis-name', transform: `translate(12 ${M.top + plotH / 2}) rotate(-90)`, 'text-anchor': 'middle',
    }, yLabel));
    svg.append(grid, axis);
    return { svg, x, y, plotW };
  }

  // Stacked bars per time bin. bins: [{t, values: {key: n}}]; keys: [{key, label}] bottom first.
  function stackedBars({ id, title, bins, keys, from, to, binMs, yLabel, height = 190 }) {
    const totals = bins.map((b) => keys.reduce((n, k) => n + (b.values[k.key] || 0), 0));
    const max = niceMax(Math.max(0, ...totals));
    const f = timeFrame({ id, title, height, from, to, max, yLabel });
    const barW = Math.max(1, (f.plotW * binMs) / (to - from) - 1);
    const bars = s('g', { class: 'bars' });
    let total = 0;
    bins.forEach((b, i) => {
      if (!totals[i]) return;
      let base = 0;
      for (const k of keys) {
        const v = b.values[k.key] || 0;
        if (!v) continue;
        total += v;
        bars.append(s('rect', {
          class: `bar bar-${k.key}`, x: f.x(b.t) + 0.5, y: f.y(base + v), width: barW,
          height: Math.max(0.5, f.y(base) - f.y(base + v)), 'data-key': k.key, 'data-value': v,
          'data-t': new Date(b.t).toISOString(),
        }, s('title', {}, `${clock(b.t)}: ${v} ${k.label.toLowerCase()}`)));
        base += v;
      }
    });
    f.svg.append(bars);
    f.svg.dataset.total = String(total);
    return f.svg;
  }

  // One line per key over time bins, with a dot on the latest value.
  function lines({ id, title, bins, keys, from, to, yLabel, height = 160 }) {
    const max = niceMax(Math.max(0, ...bins.flatMap((b) => keys.map((k) => b.values[k.key] || 0))));
    const f = timeFrame({ id, title, height, from, to, max, yLabel });
    const g = s('g', { class: 'lines' });
    for (const k of keys) {
      const pts = bins.map((b) => [f.x(b.t), f.y(b.values[k.key] || 0), b.values[k.key] || 0]);
      if (!pts.length) continue;
      g.append(s('polyline', {
        class: `line line-${k.key}`, points: pts.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(' '),
        'data-key': k.key,
      }));
      const [lx, ly, lv] = pts[pts.length - 1];
      g.append(s('circle', { class: `point point-${k.key}`, cx: lx, cy: ly, r: 3, 'data-key': k.key, 'data-value': lv },
        s('title', {}, `${k.label}: ${lv}`)));
    }
    f.svg.append(g);
    return f.svg;
  }

  // Bin labels for duration bounds in ms.
  function durationLabel(ms) {
    if (ms < 1000) return `${ms} ms`;
    if (ms < 60000) return `${ms / 1000} s`;
    if (ms < 3600000) return `${ms / 60000} min`;
    return `${ms / 3600000} h`;
  }

  // A histogram of run times: counts[i] runs in [bounds[i-1], bounds[i]); the last bin is
  // "bounds[last] and more". Labels under every third bin keep the axis readable.
  function histogram({ title, type, counts, bounds, height = 130 }) {
    const width = 340, m = { left: 34, right: 8, top: 8, bottom: 30 };
    const max = niceMax(Math.max(0, ...counts));
    const svg = s('svg', {
      class: 'chart histogram', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title,
      'data-type': type, 'data-runs': counts.reduce((a, b) => a + b, 0),
    }, s('title', {}, title));
    const plotW = width - m.left - m.right, plotH = height - m.top - m.bottom;
    const bw = plotW / counts.length;
    const y = (v) => m.top + plotH - (v / max) * plotH;
    const grid = s('g', { class: 'grid' }), axis = s('g', { class: 'axis' }), bars = s('g', { class: 'bars' });
    for (let i = 0; i <= 2; i++) {
      const v = (max / 2) * i;
      grid.append(s('line', { x1: m.left, x2: width - m.right, y1: y(v), y2: y(v) }));
      axis.append(s('text', { x: m.left - 4, y: y(v) + 4, 'text-anchor': 'end' }, number(v)));
    }
    counts.forEach((n, i) => {
      const lo = i === 0 ? 0 : bounds[i - 1];
      const range = i < bounds.length ? `${durationLabel(lo)}–${durationLabel(bounds[i])}` : `${durationLabel(lo)} or more`;
      if (n > 0) {
        bars.append(s('rect', {
          class: 'bar bar-duration', x: m.left + i * bw + 1, y: y(n), width: Math.max(1, bw - 2),
          height: Math.max(0.5, y(0) - y(n)), 'data-bin': i, 'data-value': n,
        }, s('title', {}, `${range}: ${n} run${n === 1 ? '' : 's'}`)));
      }
      if (i % 3 === 0 && i > 0 && i <= bounds.length) {
        const lx = m.left + i * bw;
        axis.append(s('line', { class: 'tick', x1: lx, x2: lx, y1: y(0), y2: y(0) + 4 }));
        axis.append(s('text', { x: lx, y: height - 14, 'text-anchor': 'middle' }, durationLabel(bounds[i - 1])));
      }
    });
    axis.append(s('line', { class: 'baseline', x1: m.left, x2: width - m.right, y1: y(0), y2: y(0) }));
    axis.append(s('text', { class: 'axis-name', x: m.left + plotW / 2, y: height - 2, 'text-anchor': 'middle' }, 'run time'));
    svg.append(grid, axis, bars);
    return svg;
  }

  // `svg` is the element maker the sections' own small charts use too.
  return { stackedBars, lines, histogram, durationLabel, svg: s };
})();
