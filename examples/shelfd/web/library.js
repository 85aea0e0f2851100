// SPDX-License-Identifier: MIT
// The dashboard's library section: the last library scan (its figures as a bar chart), the
// files that match no book with the reason, a rescan button, and a manual import of a folder
// (Readarr's manualimport listing, then the ManualImport command with the rows ticked). It
// registers itself before app.js runs (window.shelfdSections); app.js hands it the page's
// helpers, its events from the stream (LibraryScanned, BookFileAdded, BookFileDeleted,
// BookImported) and a turn at every refetch and render.
'use strict';
(window.shelfdSections = window.shelfdSections || []).push(({ api, el, put, $, timeNode, showNotice, upsertCommand, scheduleRender, AuthError }) => {
  const { svg } = window.ShelfCharts;
  const lib = { scan: null, unmapped: [], timer: null, folder: '', candidates: null, picked: new Set(), importTimer: null };
  const FIGURES = [
    ['added', 'new'], ['changed', 'changed'], ['unchanged', 'unchanged'],
    ['removed', 'removed'], ['unmapped', 'unmapped'], ['unreadable', 'unreadable'],
  ];

  // One horizontal bar per figure of the last scan, on one scale: how much of the library was
  // new, read again, left alone, gone or unmatched, at a glance.
  function scanChart(scan) {
    const width = 420, row = 22, left = 86, right = 60;
    const max = Math.max(1, ...FIGURES.map(([k]) => scan[k] || 0));
    const chart = svg('svg', {
      class: 'chart scan-chart', viewBox: `0 0 ${width} ${FIGURES.length * row + 4}`, role: 'img',
      'aria-label': 'Last library scan',
    }, svg('title', {}, 'Last library scan'));
    FIGURES.forEach(([key, label], i) => {
      const n = scan[key] || 0;
      const y = i * row + 2;
      const w = ((width - left - right) * n) / max;
      chart.append(
        svg('text', { x: left - 6, y: y + 15, 'text-anchor': 'end', class: 'scan-label' }, label),
        svg('rect', { class: `bar bar-scan-${key}`, x: left, y: y + 3, width: Math.max(n ? 1 : 0, w), height: row - 6, 'data-value': n },
          svg('title', {}, `${label}: ${n} file${n === 1 ? '' : 's'}`)),
        svg('text', { x: left + w + 6, y: y + 15, class: 'scan-value' }, String(n)));
    });
    return chart;
  }

  async function load() {
    try {
      const [scan, unmapped] = await Promise.all([api('library/scan'), api('bookfile?unmapped=true')]);
      if (scan) lib.scan = scan;
      lib.unmapped = unmapped || [];
      scheduleRender();
    } catch { /* the section keeps its last values */ }
  }

  function loadSoon() {
    clearTimeout(lib.timer);
    lib.timer = setTimeout(load, 400);
  }

  async function rescan() {
    try {
      upsertCommand(await api('command', { method: 'POST', body: JSON.stringify({ name: 'RescanFolders' }) }));
      showNotice('');
    } catch (err) {
      if (!(err instanceof AuthError)) showNotice(`Could not start the scan: ${err.message}`);
    }
    scheduleRender();
  }
  $('#rescan').addEventListener('click', rescan);

  // Manual import: list a folder's candidates; a row is ticked when it would be imported as is.
  async function listFolder() {
    if (!lib.folder) return;
    try {
      lib.candidates = await api(`manualimport?folder=${encodeURIComponent(lib.folder)}`) || [];
      lib.picked = new Set(lib.candidates.filter((c) => c.bookId && !c.rejections.length).map((c) => c.path));
      showNotice('');
    } catch (err) {
      lib.candidates = null;
      if (!(err instanceof AuthError)) showNotice(`Could not list ${lib.folder}: ${err.message}`);
    }
    scheduleRender();
  }
  function listSoon() {
    clearTimeout(lib.importTimer);
    lib.importTimer = setTimeout(listFolder, 400);
  }
  $('#import-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    lib.folder = $('#import-folder').value.trim();
    listFolder();
  });
  $('#import-candidates').addEventListener('change', (ev) => {
    const box = ev.target.closest('input[type=checkbox]');
    if (!box) return;
    if (box.checked) lib.picked.add(box.value); else lib.picked.delete(box.value);
    scheduleRender();
  });
  $('#import-run').addEventListener('click', async () => {
    const files = (lib.candidates || []).filter((c) => lib.picked.has(c.path))
      .map((c) => ({ path: c.path, authorId: c.authorId, bookId: c.bookId, editionId: c.editionId || null }));
    if (!files.length) return;
    try {
      const body = { name: 'ManualImport', importMode: $('#import-mode').value, files };
      upsertCommand(await api('command', { method: 'POST', body: JSON.stringify(body) }));
      showNotice('');
    } catch (err) {
      if (!(err instanceof AuthError)) showNotice(`Could not start the import: ${err.message}`);
    }
    scheduleRender();
  });

  function renderImport() {
    const list = lib.candidates;
    $('#import-list').hidden = !list || !list.length;
    $('#import-empty').hidden = !list || list.length > 0;
    if (!list) return;
    put($('#import-candidates tbody'), ...list.map((c) => {
      const importable = Boolean(c.bookId) && !c.rejections.some((r) => r.kind !== 'already_imported');
      // As attributes, so that a change of the ticks changes what put() compares.
      const box = el('input', {
        type: 'checkbox', value: c.path, 'aria-label': `Import ${c.name}`,
        checked: lib.picked.has(c.path), disabled: !c.bookId,
      });
      return el('tr', { class: importable ? 'candidate' : 'candidate rejected', 'data-path': c.path },
        el('td', {}, box),
        el('td', { class: 'path' }, c.path),
        el('td', { class: 'author' }, c.author ? c.author.authorName : (c.authors || []).join(', ')),
        el('td', { class: 'book' }, c.book ? c.book.title : c.title || ''),
        el('td', { class: 'format' }, (c.quality && c.quality.quality.name) || c.format),
        el('td', { class: 'reason' }, c.rejections.map((r) => r.reason).join('; ')));
    }));
    $('#import-run').disabled = lib.picked.size === 0;
  }

  function render() {
    const s = lib.scan;
    const rows = s
      ? [['Files', String(s.files)], ['Unmapped', String(s.unmapped)], ['Folders', String(s.folders)],
        ['Last scan', timeNode(s.finished)]]
      : [['Last scan', 'none since shelfd started']];
    put($('#library-summary'), ...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
    put($('#library-chart'), ...(s ? [scanChart(s), el('p', { class: 'hint' }, s.message || '')] : []));
    const body = $('#unmapped tbody');
    put(body, ...lib.unmapped.map((f) => el('tr', { 'data-id': f.id },
      el('td', { class: 'path' }, f.path), el('td', { class: 'reason' }, f.unmappedReason || ''),
      el('td', { class: 'error' }, f.readError || ''))));
    $('#unmapped-count').textContent = lib.unmapped.length ? String(lib.unmapped.length) : '';
    $('#unmapped-empty').hidden = lib.unmapped.length > 0;
    renderImport();
  }

  return {
    events: {
      LibraryScanned: (e) => {
        lib.scan = e;
        loadSoon();
      },
      BookFileAdded: loadSoon,
      BookFileDeleted: loadSoon,
      // A file left the listed folder (or arrived at its place): list the folder again.
      BookImported: () => { loadSoon(); if (lib.candidates) listSoon(); },
    },
    refetch: load,
    render,
  };
});
