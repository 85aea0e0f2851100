// SPDX-License-Identifier: MIT
// The dashboard's downloads section: the queue with live progress (Readarr's /queue, moved by
// the ReleaseGrabbed, DownloadCompleted, DownloadFailed and DownloadImported events), each
// indexer's last RSS sync and back-off status (RssSyncCompleted, ProviderStatusChanged) with a
// chart of what the last sync brought per indexer, and the grabs, imports and failures of the
// history. Buttons start an RSS sync and a search for the missing books. It registers itself
// before app.js runs (window.shelfdSections), like library.js.
'use strict';
(window.shelfdSections = window.shelfdSections || []).push(({ api, el, put, $, timeNode, showNotice, upsertCommand, scheduleRender, AuthError }) => {
  const { svg } = window.ShelfCharts;
  const dl = { queue: [], indexers: [], statuses: new Map(), lastSync: new Map(), history: [], timer: null, sync: null };
  const EVENT_NAMES = {
    grabbed: 'Grabbed', downloadFailed: 'Failed', downloadImported: 'Imported',
    bookFileImported: 'File imported', bookImportIncomplete: 'Import incomplete', downloadIgnored: 'Ignored',
  };

  // One bar per indexer: the releases its last sync read, red when it failed, grey when it was
  // skipped while backing off. Which indexer carries the library, and which is down, at a glance.
  function indexerChart() {
    const rows = dl.indexers.map((i) => ({ name: i.name, sync: dl.lastSync.get(i.id) })).filter((r) => r.sync);
    if (!rows.length) return [];
    const width = 420, row = 22, left = 120, right = 60;
    const max = Math.max(1, ...rows.map((r) => r.sync.releases || 0));
    const chart = svg('svg', {
      class: 'chart indexer-chart', viewBox: `0 0 ${width} ${rows.length * row + 4}`, role: 'img',
      'aria-label': 'Releases per indexer in the last RSS sync',
    }, svg('title', {}, 'Releases per indexer in the last RSS sync'));
    rows.forEach((r, i) => {
      const n = r.sync.releases || 0;
      const y = i * row + 2;
      const w = ((width - left - right) * n) / max;
      const cls = r.sync.error ? 'bar-scan-removed' : r.sync.skipped ? 'bar-scan-unmapped' : 'bar-scan-added';
      const note = r.sync.error ? `failed: ${r.sync.error}` : r.sync.skipped ? 'skipped (backing off)' : `${n} releases`;
      chart.append(
        svg('text', { x: left - 6, y: y + 15, 'text-anchor': 'end', class: 'scan-label' }, r.name),
        svg('rect', { class: `bar ${cls}`, x: left, y: y + 3, width: Math.max(r.sync.error || r.sync.skipped ? 4 : n ? 1 : 0, w), height: row - 6, 'data-value': n },
          svg('title', {}, `${r.name}: ${note}`)),
        svg('text', { x: left + w + 6, y: y + 15, class: 'scan-value' }, r.sync.error ? 'failed' : r.sync.skipped ? 'skipped' : String(n)));
    });
    return [chart];
  }

  async function load() {
    try {
      const [queue, indexers, statuses, history] = await Promise.all([
        api('queue?pageSize=100'), api('indexer'), api('indexerstatus'), api('history?pageSize=15'),
      ]);
      dl.queue = (queue && queue.records) || [];
      dl.indexers = indexers || [];
      dl.statuses = new Map((statuses || []).map((s) => [s.providerId, s]));
      dl.history = ((history && history.records) || []).filter((h) => EVENT_NAMES[h.eventType]);
      scheduleRender();
    } catch { /* the section keeps its last values */ }
  }

  function loadSoon() {
    clearTimeout(dl.timer);
    dl.timer = setTimeout(load, 300);
  }

  async function command(name, what) {
    try {
      upsertCommand(await api('command', { method: 'POST', body: JSON.stringify({ name }) }));
      showNotice('');
    } catch (err) {
      if (!(err instanceof AuthError)) showNotice(`Could not start ${what}: ${err.message}`);
    }
    scheduleRender();
  }
  $('#rss-sync').addEventListener('click', () => command('RssSync', 'the RSS sync'));
  $('#search-missing').addEventListener('click', () => command('MissingBookSearch', 'the search'));

  $('#queue').addEventListener('click', async (ev) => {
    const button = ev.target.closest('button[data-remove]');
    if (!button) return;
    const blocklist = button.dataset.remove === 'blocklist';
    try {
      await api(`queue/${button.dataset.id}?removeFromClient=true&blocklist=${blocklist}`, { method: 'DELETE' });
      showNotice('');
      loadSoon();
    } catch (err) {
      if (!(err instanceof AuthError)) showNotice(`Could not remove it: ${err.message}`);
    }
  });

  function progress(q) {
    const done = q.size > 0 ? Math.max(0, Math.min(1, (q.size - q.sizeleft) / q.size)) : 0;
    return el('progress', { max: '100', value: String(Math.round(done * 100)), 'aria-label': `${Math.round(done * 100)}% downloaded` });
  }

  function render() {
    const sync = dl.sync;
    const rows = sync
      ? [['Last RSS sync', `${sync.found} found, ${sync.grabbed} grabbed, ${sync.pending} pending, ${sync.rejected} rejected`]]
      : [['Last RSS sync', 'none since the page opened']];
    rows.push(['Queue', String(dl.queue.length)]);
    put($('#downloads-summary'), ...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
    $('#queue-count').textContent = dl.queue.length ? String(dl.queue.length) : '';
    put($('#queue tbody'), ...dl.queue.map((q) => el('tr', { 'data-id': q.id, class: `queue-${q.trackedDownloadStatus}` },
      el('td', { class: 'title' }, q.title),
      el('td', { class: 'status' }, q.trackedDownloadState === 'downloading' ? q.status : q.trackedDownloadState,
        q.errorMessage ? el('span', { class: 'hint' }, ` ${q.errorMessage}`) : ''),
      el('td', { class: 'progress' }, progress(q)),
      el('td', { class: 'timeleft' }, q.timeleft || '—'),
      el('td', { class: 'client' }, `${q.downloadClient} (${q.protocol})`),
      el('td', { class: 'actions' },
        el('button', { type: 'button', 'data-remove': 'remove', 'data-id': q.id }, 'Remove'),
        el('button', { type: 'button', 'data-remove': 'blocklist', 'data-id': q.id }, 'Blocklist')))));
    $('#queue-empty').hidden = dl.queue.length > 0;
    put($('#indexer-chart'), ...indexerChart());
    put($('#indexers tbody'), ...dl.indexers.map((i) => {
      const s = dl.statuses.get(i.id);
      const last = dl.lastSync.get(i.id);
      const blocked = s && s.disabledTill && new Date(s.disabledTill) > new Date();
      return el('tr', { 'data-id': i.id, class: blocked ? 'indexer-blocked' : 'indexer-ok' },
        el('td', { class: 'name' }, `${i.name} (${i.implementation})`),
        el('td', { class: 'sync' }, last ? (last.error || (last.skipped ? 'skipped, backing off' : 'ok')) : '—'),
        el('td', { class: 'releases' }, last ? String(last.releases) : '—'),
        el('td', { class: 'status' }, blocked ? el('span', {}, `backing off until `, timeNode(s.disabledTill)) : 'available'));
    }));
    $('#indexers-empty').hidden = dl.indexers.length > 0;
    put($('#grabs tbody'), ...dl.history.map((h) => el('tr', { 'data-id': h.id, class: `history-${h.eventType}` },
      el('td', {}, timeNode(h.date)),
      el('td', { class: 'event' }, EVENT_NAMES[h.eventType] || h.eventType),
      el('td', { class: 'title' }, h.sourceTitle),
      el('td', { class: 'details' }, (h.data && (h.data.message || h.data.downloadClient || h.data.indexer)) || ''))));
    $('#grabs-empty').hidden = dl.history.length > 0;
  }

  // A queue item changed: update it in place at once (progress is live), then re-read.
  function upsert(q) {
    const i = dl.queue.findIndex((x) => x.id === q.id);
    if (i >= 0) dl.queue[i] = { ...dl.queue[i], ...q }; else dl.queue.unshift(q);
    loadSoon();
  }

  return {
    events: {
      ReleaseGrabbed: upsert,
      DownloadCompleted: upsert,
      DownloadFailed: loadSoon,
      DownloadImported: loadSoon,
      RssSyncCompleted: (e) => {
        dl.sync = e;
        for (const i of e.indexers || []) dl.lastSync.set(i.indexerId, i);
        loadSoon();
      },
      ProviderStatusChanged: (e) => {
        if (e.kind === 'indexer') dl.statuses.set(e.providerId, e);
      },
    },
    refetch: load,
    render,
  };
});
