// SPDX-License-Identifier: MIT
// The dashboard's logs section: the recent warnings and errors of the log table (Readarr's
// /log, filtered to warn and above), live from the stream's "log" messages, and the latest
// housekeeping run, task by task (/system/housekeeping, then HousekeepingCompleted). Buttons run
// Housekeeping and ClearLog. It registers itself before app.js runs (window.shelfdSections), like
// library.js.
'use strict';
(window.shelfdSections = window.shelfdSections || []).push(({ api, el, put, $, timeNode, showNotice, upsertCommand, scheduleRender, AuthError }) => {
  const MAX = 15;
  const lg = { lines: [], housekeeping: null };

  async function load() {
    try {
      const [page, hk] = await Promise.all([api(`log?level=warn&pageSize=${MAX}`), api('system/housekeeping')]);
      lg.lines = (page && page.records) || [];
      lg.housekeeping = hk && hk.tasks ? hk : null;
      scheduleRender();
    } catch { /* the section keeps its last values */ }
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
  $('#run-housekeeping').addEventListener('click', () => command('Housekeeping', 'housekeeping'));
  $('#clear-log').addEventListener('click', async () => {
    await command('ClearLog', 'clearing the log');
    lg.lines = [];
  });

  function render() {
    $('#log-count').textContent = lg.lines.length ? String(lg.lines.length) : '';
    put($('#log-lines tbody'), ...lg.lines.map((l) => el('tr', { 'data-id': l.id, class: `log-${l.level}` },
      el('td', {}, timeNode(l.time)),
      el('td', { class: 'level' }, l.level),
      el('td', { class: 'logger' }, l.logger),
      el('td', { class: 'message' }, l.message))));
    $('#log-empty').hidden = lg.lines.length > 0;
    const hk = lg.housekeeping;
    put($('#housekeeping-summary'), ...(hk
      ? [el('dt', {}, 'Last housekeeping'), el('dd', {}, timeNode(hk.finished), hk.failed ? ` — ${hk.failed} task(s) failed` : ' — all tasks ran')]
      : [el('dt', {}, 'Last housekeeping'), el('dd', {}, 'not run since shelfd started')]));
    put($('#housekeeping-tasks tbody'), ...(hk ? hk.tasks : []).map((t) => el('tr', { class: t.ok ? 'task-ok' : 'task-failed' },
      el('td', { class: 'name' }, t.name),
      el('td', { class: 'status' }, t.ok ? 'ok' : 'failed'),
      el('td', { class: 'message' }, t.message))));
  }

  return {
    events: {
      log: (line) => {
        if (lg.lines.some((l) => l.id === line.id)) return;
        lg.lines = [line, ...lg.lines].slice(0, MAX);
      },
      HousekeepingCompleted: (report) => { lg.housekeeping = report; },
    },
    refetch: load,
    render,
  };
});
