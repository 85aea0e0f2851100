// SPDX-License-Identifier: MIT
// The dashboard's backups section: the backups on disk (Readarr's /system/backup), a chart of
// their sizes oldest to newest (a database that suddenly grew, or a backup that came out empty,
// shows at a glance), "Back up now" (the Backup command), restore from a listed backup or an
// uploaded zip, and delete. A new backup arrives with the stream's BackupCompleted message. A
// restore changes every list on the page, so the page reloads after one. It registers itself
// before app.js runs (window.shelfdSections), like library.js.
'use strict';
(window.shelfdSections = window.shelfdSections || []).push(({ api, el, put, $, timeNode, showNotice, upsertCommand, scheduleRender, AuthError }) => {
  const { svg } = window.ShelfCharts;
  const bk = { list: [], busy: false };

  function size(bytes) {
    if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(1)} GiB`;
    if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
    if (bytes >= 1 << 10) return `${(bytes / (1 << 10)).toFixed(1)} KiB`;
    return `${bytes} B`;
  }

  // One bar per backup, oldest on the left, coloured by type.
  function sizeChart() {
    const rows = [...bk.list].reverse().slice(-30);
    if (!rows.length) return [];
    const width = 420, height = 90, bottom = 14, gap = 2;
    const max = Math.max(1, ...rows.map((b) => b.size));
    const bw = Math.min(28, (width - gap * rows.length) / rows.length);
    const chart = svg('svg', {
      class: 'chart backup-chart', viewBox: `0 0 ${width} ${height}`, role: 'img',
      'aria-label': 'Backup sizes, oldest to newest',
    }, svg('title', {}, 'Backup sizes, oldest to newest'));
    rows.forEach((b, i) => {
      const h = Math.max(1, ((height - bottom - 4) * b.size) / max);
      chart.append(svg('rect', {
        class: `bar backup-${b.type}`, x: i * (bw + gap), y: height - bottom - h, width: bw, height: h, 'data-value': b.size,
      }, svg('title', {}, `${b.name}: ${size(b.size)} (${b.type})`)));
    });
    chart.append(svg('text', { x: 0, y: height - 2, class: 'scan-label' }, `largest ${size(max)}`));
    return [chart];
  }

  async function load() {
    try {
      bk.list = (await api('system/backup')) || [];
      scheduleRender();
    } catch { /* the section keeps its last values */ }
  }

  async function run(what, fn) {
    if (bk.busy) return;
    bk.busy = true;
    scheduleRender();
    try {
      await fn();
      showNotice('');
    } catch (err) {
      if (!(err instanceof AuthError)) showNotice(`${what} failed: ${err.message}`);
    } finally {
      bk.busy = false;
      scheduleRender();
    }
  }

  async function restored(result) {
    showNotice(`Restored ${result.backup}; reloading.`);
    setTimeout(() => window.location.reload(), 800);
  }

  $('#backup-now').addEventListener('click', () => run('Backup', async () => {
    upsertCommand(await api('command', { method: 'POST', body: JSON.stringify({ name: 'Backup', type: 'manual' }) }));
  }));
  $('#restore-upload').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const file = $('#restore-file').files[0];
    if (!file) return showNotice('Choose a backup zip to restore.');
    if (!window.confirm(`Restore ${file.name}? The current data are kept beside it as a safety copy.`)) return;
    const form = new FormData();
    form.append('restore', file, file.name);
    run('Restore', async () => restored(await api('system/backup/restore/upload', { method: 'POST', body: form })));
  });

  function render() {
    $('#backup-count').textContent = bk.list.length ? String(bk.list.length) : '';
    $('#backup-now').disabled = bk.busy;
    put($('#backup-chart'), ...sizeChart());
    put($('#backups tbody'), ...bk.list.map((b) => el('tr', { 'data-id': b.id, class: `backup-${b.type}` },
      el('td', { class: 'name' }, b.name),
      el('td', { class: 'type' }, b.type),
      el('td', { class: 'size' }, size(b.size)),
      el('td', {}, timeNode(b.time)),
      el('td', { class: 'actions' },
        el('button', {
          type: 'button', class: 'restore', disabled: bk.busy,
          onclick: () => {
            if (!window.confirm(`Restore ${b.name}? The current data are kept beside it as a safety copy.`)) return;
            run('Restore', async () => restored(await api(`system/backup/restore/${b.id}`, { method: 'POST' })));
          },
        }, 'Restore'),
        el('button', {
          type: 'button', class: 'delete', disabled: bk.busy,
          onclick: () => {
            if (!window.confirm(`Delete ${b.name}?`)) return;
            run('Delete', async () => {
              await api(`system/backup/${b.id}`, { method: 'DELETE' });
              bk.list = bk.list.filter((x) => x.id !== b.id);
            });
          },
        }, 'Delete')))));
    $('#backups-empty').hidden = bk.list.length > 0;
  }

  return {
    events: {
      BackupCompleted: (b) => {
        if (!bk.list.some((x) => x.id === b.id)) bk.list = [b, ...bk.list];
      },
    },
    refetch: load,
    render,
  };
});
