// SPDX-License-Identifier: MIT
// shelfd dashboard: lists come from the REST API, then the event stream keeps them current.
'use strict';
(() => {
  // API paths are resolved against the page's folder so shelfd keeps working behind a URL base.
  const base = new URL('.', location.href);
  const KEY_STORE = 'shelfd.apikey';
  const HISTORY_LIMIT = 50;
  const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
  const RANK = { queued: 0, started: 1, completed: 2, failed: 2, cancelled: 2 };
  const PRIORITY = { critical: 0, high: 1, normal: 2, low: 3 };

  const state = {
    key: null, source: null, retry: null, renderTimer: null, snapshotTimer: null,
    commands: new Map(), tasks: new Map(), alerts: [], snapshot: null,
    replay: null,       // events that arrived while a refetch was in flight: [apply, data]
    pending: new Set(), // task names whose "Run now" request is on its way
    authors: [], roots: [], catalogOn: true, authorsTimer: null,
  };
  // Commands whose end changes the catalog: the author list is fetched again after them.
  const CATALOG_COMMANDS = new Set(['RefreshAuthor', 'RefreshBook', 'MoveAuthor']);

  const $ = (sel, root = document) => root.querySelector(sel);

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : v);
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  // Replaces a node's content only when what we would render changed, so re-rendering leaves
  // focus, selection and opened details alone (compared with what we rendered last, not with the
  // live DOM, which the reader may have changed by opening a <details>).
  const rendered = new WeakMap();
  function put(node, ...children) {
    const probe = el('div', {}, ...children);
    if (rendered.get(node) === probe.innerHTML) return;
    rendered.set(node, probe.innerHTML);
    node.replaceChildren(...probe.childNodes);
  }

  // ---- formatting -------------------------------------------------------------------------

  function when(iso) {
    const t = iso ? Date.parse(iso) : NaN;
    return t > 0 ? t : null; // absent, unparsable, or a "never" placeholder such as year 1
  }

  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  function relative(t) {
    const s = Math.round((t - Date.now()) / 1000);
    const a = Math.abs(s);
    if (a < 45) return rtf.format(s, 'second');
    if (a < 90 * 60) return rtf.format(Math.round(s / 60), 'minute');
    if (a < 36 * 3600) return rtf.format(Math.round(s / 3600), 'hour');
    return rtf.format(Math.round(s / 86400), 'day');
  }

  function timeNode(iso, empty = '—') {
    const t = when(iso);
    if (t === null) return empty;
    const d = new Date(t);
    return el('time', { datetime: d.toISOString(), title: d.toLocaleString() }, relative(t));
  }

  // Durations come as "[d.]hh:mm:ss[.fffffff]".
  function durationMs(s) {
    const m = /^(?:(\d+)\.)?(\d+):(\d\d):(\d\d)(?:\.(\d+))?$/.exec(s || '');
    if (!m) return null;
    const secs = ((Number(m[1] || 0) * 24 + Number(m[2])) * 60 + Number(m[3])) * 60 + Number(m[4]);
    return secs * 1000 + (m[5] ? Number('0.' + m[5]) * 1000 : 0);
  }

  function formatMs(ms) {
    if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
    const s = Math.round(ms / 1000);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return h ? `${h} h ${m} min` : `${m} min ${s % 60} s`;
  }

  function formatInterval(minutes) {
    if (!minutes) return 'off';
    if (minutes % 1440 === 0) return minutes === 1440 ? '1 day' : `${minutes / 1440} days`;
    if (minutes % 60 === 0) return `${minutes / 60} h`;
    return `${minutes} min`;
  }

  function formatBytes(n) {
    if (typeof n !== 'number') return '—';
    const units = ['B', 'KiB', 'MiB', 'GiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${i ? n.toFixed(1) : n} ${units[i]}`;
  }

  const badge = (kind, text) => el('span', { class: `badge badge-${kind}` }, text);

  // The first line of a message, with the whole text one click away when there is more.
  function longText(text) {
    if (!text) return '';
    const first = text.split('\n', 1)[0];
    if (first === text && text.length <= 160) return text;
    return el('details', {}, el('summary', {}, first.slice(0, 160)), el('pre', {}, text));
  }

  // ---- API --------------------------------------------------------------------------------

  class AuthError extends Error {}

  async function api(path, options = {}) {
    const headers = { 'X-Api-Key': state.key, Accept: 'application/json' };
    if (options.body) headers['Content-Type'] = 'application/json';
    const res = await fetch(new URL('api/v1/' + path, base), { ...options, headers, cache: 'no-store' });
    const text = await res.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch { /* not JSON: keep the status text */ }
    if (res.status === 401) {
      askForKey('shelfd refused this API key.');
      throw new AuthError('unauthorized');
    }
    if (!res.ok) throw new Error((body && body.message) || `${res.status} ${res.statusText}`);
    return body;
  }

  // ---- state ------------------------------------------------------------------------------

  // Events and list responses can arrive out of order (an event sent while a list was being
  // built): never let an older view of a job replace a newer one.
  function newer(old, fresh) {
    if (!old) return fresh;
    const to = when(old.stateChangeTime), tf = when(fresh.stateChangeTime);
    if (to !== null && tf !== null && to !== tf) return tf > to ? fresh : old;
    return (RANK[fresh.status] ?? 0) >= (RANK[old.status] ?? 0) ? fresh : old;
  }

  function upsertCommand(c) {
    if (c && c.id !== undefined) state.commands.set(c.id, newer(state.commands.get(c.id), c));
  }

  const taskKey = (t) => t.taskName || t.name;

  async function refetch() {
    const replay = (state.replay = []);
    try {
      const [commands, tasks, alerts] = await Promise.all([
        api('command'), api('system/task'), api('health')]);
      const fresh = new Map();
      for (const c of commands) fresh.set(c.id, newer(state.commands.get(c.id), c));
      state.commands = fresh;
      state.tasks = new Map(tasks.map((t) => [taskKey(t), t]));
      state.alerts = alerts;
      // Events sent while the lists were on their way may be newer than the lists.
      for (const [apply, data] of replay) apply(data);
      showNotice('');
    } catch (err) {
      if (!(err instanceof AuthError)) showNotice(`Could not load the lists: ${err.message}`);
    } finally {
      if (state.replay === replay) state.replay = null;
    }
    refreshSnapshot();
    refreshAuthors();
    scheduleRender();
  }

  // The catalog is not pushed either: it is fetched at start and after catalog commands end.
  async function refreshAuthors() {
    clearTimeout(state.authorsTimer);
    state.authorsTimer = null;
    try {
      const [authors, roots] = await Promise.all([api('author'), api('rootfolder')]);
      state.authors = authors;
      state.roots = roots;
      scheduleRender();
    } catch { /* the list keeps its last values */ }
  }

  function refreshAuthorsSoon() {
    if (!state.authorsTimer) state.authorsTimer = setTimeout(refreshAuthors, 500);
  }

  async function refreshSnapshot() {
    clearTimeout(state.snapshotTimer);
    state.snapshotTimer = null;
    try {
      state.snapshot = await api('system/jobs');
      scheduleRender();
    } catch { /* the summary keeps its last values; the lists report errors */ }
  }

  // The snapshot is not pushed: after job or alert changes, fetch it again, at most every 2 s.
  function refreshSnapshotSoon() {
    if (!state.snapshotTimer) state.snapshotTimer = setTimeout(refreshSnapshot, 2000);
  }

  // ---- event stream -----------------------------------------------------------------------

  function setConnection(s, text) {
    const node = $('#connection');
    node.dataset.state = s;
    node.textContent = text;
  }

  function listen(src, name, apply) {
    src.addEventListener(name, (e) => {
      let data;
      try { data = JSON.parse(e.data); } catch { return; }
      apply(data);
      if (state.replay) state.replay.push([apply, data]);
      scheduleRender();
    });
  }

  function connect() {
    clearTimeout(state.retry);
    if (state.source) state.source.close();
    const url = new URL('api/v1/events', base);
    url.searchParams.set('apikey', state.key);
    const src = (state.source = new EventSource(url));
    setConnection('connecting', 'Connecting…');
    src.onopen = () => {
      setConnection('live', 'Live');
      refetch(); // whatever happened while disconnected is only in the lists
    };
    src.onerror = () => {
      if (src !== state.source) return;
      if (src.readyState !== EventSource.CLOSED) {
        setConnection('reconnecting', 'Reconnecting…');
        return;
      }
      // The browser gives up after an HTTP error: check the key now (a 401 shows the form),
      // otherwise try again shortly.
      src.close();
      state.source = null;
      setConnection('offline', 'Disconnected, retrying…');
      api('health').then(() => { state.retry = setTimeout(connect, 3000); }, (err) => {
        if (!(err instanceof AuthError)) state.retry = setTimeout(connect, 5000);
      });
    };
    listen(src, 'command', (c) => {
      upsertCommand(c);
      refreshSnapshotSoon(); // queue and worker counts moved
      if (CATALOG_COMMANDS.has(c.name) && TERMINAL.has(c.status)) refreshAuthorsSoon();
    });
    listen(src, 'task', (t) => state.tasks.set(taskKey(t), t));
    listen(src, 'health', (alerts) => {
      state.alerts = Array.isArray(alerts) ? alerts : [];
      refreshSnapshotSoon();
    });
  }

  // ---- actions ----------------------------------------------------------------------------

  async function runNow(name) {
    const task = state.tasks.get(name);
    state.pending.add(name);
    scheduleRender();
    try {
      upsertCommand(await api('command', { method: 'POST', body: JSON.stringify({ name }) }));
      showNotice('');
    } catch (err) {
      if (!(err instanceof AuthError)) showNotice(`Could not start ${task ? task.name : name}: ${err.message}`);
    } finally {
      state.pending.delete(name);
      scheduleRender();
    }
  }

  async function refreshAuthor(id) {
    const body = { name: 'RefreshAuthor' };
    if (id !== undefined) body.authorId = id;
    try {
      upsertCommand(await api('command', { method: 'POST', body: JSON.stringify(body) }));
      showNotice('');
    } catch (err) {
      if (!(err instanceof AuthError)) showNotice(`Could not start the refresh: ${err.message}`);
    }
    scheduleRender();
  }

  async function addAuthor(e) {
    e.preventDefault();
    const form = e.target;
    const foreignAuthorId = $('#author-id').value.trim();
    const rootFolderId = Number($('#author-root').value);
    if (!foreignAuthorId || !rootFolderId) return;
    const button = $('button[type=submit]', form);
    button.disabled = true;
    try {
      const a = await api('author', { method: 'POST', body: JSON.stringify({ foreignAuthorId, rootFolderId, monitored: true }) });
      $('#author-id').value = '';
      showNotice('');
      state.authors = [...state.authors.filter((x) => x.id !== a.id), a];
    } catch (err) {
      if (!(err instanceof AuthError)) showNotice(`Could not add the author: ${err.message}`);
    } finally {
      button.disabled = false;
      scheduleRender();
    }
  }

  async function cancel(id) {
    const c = state.commands.get(id);
    if (!window.confirm(`Cancel ${c ? c.name : 'this job'}?`)) return;
    try {
      const res = await api(`command/${encodeURIComponent(id)}`, { method: 'DELETE' });
      if (res && res.id !== undefined) upsertCommand(res);
      scheduleRender();
    } catch (err) {
      if (!(err instanceof AuthError)) showNotice(`Could not cancel: ${err.message}`);
    }
  }

  // ---- rendering --------------------------------------------------------------------------

  function scheduleRender() {
    if (!state.renderTimer) state.renderTimer = setTimeout(render, 50);
  }

  // Keyed update of a section's table: rows are reused, so focus and open details survive.
  function fill(section, items, key, create, update) {
    const root = $('#' + section);
    const body = $('tbody', root);
    const old = new Map([...body.rows].map((r) => [r.dataset.key, r]));
    let prev = null;
    for (const item of items) {
      const k = String(key(item));
      let tr = old.get(k);
      if (tr) old.delete(k);
      else { tr = create(item); tr.dataset.key = k; }
      update(tr, item);
      const next = prev ? prev.nextSibling : body.firstChild;
      if (tr !== next) body.insertBefore(tr, next);
      prev = tr;
    }
    for (const tr of old.values()) tr.remove();
    $('table', root).hidden = items.length === 0;
    $('.empty', root).hidden = items.length > 0;
    const count = $('.count', root);
    if (count) count.textContent = items.length ? `(${items.length})` : '';
  }

  function jobRow(cells, actions) {
    return (c) => {
      const tr = el('tr', { class: 'job', 'data-id': c.id }, el('td', { class: 'name' }));
      for (const name of cells) tr.append(el('td', { class: name }));
      if (actions) tr.append(el('td', { class: 'actions' }, el('button', {
        type: 'button', class: 'cancel', 'aria-label': `Cancel ${c.name}`,
        onclick: () => cancel(c.id),
      }, 'Cancel')));
      return tr;
    };
  }

  function updateJob(tr, c) {
    tr.dataset.status = c.status;
    tr.dataset.name = c.name;
    put($('td.name', tr), c.name);
    const label = c.commandName && c.commandName !== c.name ? c.commandName : null;
    if (label) tr.title = label; else tr.removeAttribute('title');
  }

  function updateRunning(tr, c) {
    updateJob(tr, c);
    const td = $('td.progress', tr);
    if (!td.firstChild) td.append(el('progress', { 'aria-label': `${c.name} progress` }), el('span', { class: 'progress-text' }));
    const bar = $('progress', td);
    const p = c.progress || {};
    if (p.total > 0) {
      bar.max = p.total;
      bar.value = Math.min(p.current || 0, p.total);
    } else {
      bar.removeAttribute('value'); // unknown total: an indeterminate bar
    }
    const count = p.total > 0 ? `${p.current || 0} / ${p.total}` : '';
    put($('.progress-text', td), [count, p.message || c.message].filter(Boolean).join(' — '));
    put($('td.started', tr), timeNode(c.started));
  }

  function updateQueued(tr, c) {
    updateJob(tr, c);
    tr.dataset.priority = c.priority;
    put($('td.priority', tr), badge(c.priority, c.priority));
    put($('td.queued', tr), timeNode(c.queued));
    const retry = c.attempt > 1 ? ` (attempt ${c.attempt})` : '';
    put($('td.not-before', tr), timeNode(c.notBefore, ''), retry);
  }

  function updateHistory(tr, c) {
    updateJob(tr, c);
    const extra = c.errorKind && c.status === 'failed' ? ` · ${c.errorKind}` : '';
    put($('td.status', tr), badge(c.status, c.status), extra,
      c.attempt > 1 ? ` · attempt ${c.attempt}` : '');
    put($('td.ended', tr), timeNode(c.ended));
    put($('td.duration', tr), formatMs(durationMs(c.duration)));
    put($('td.message', tr), longText(c.status === 'failed' && c.exception ? c.exception : c.message));
    $('td.message', tr).classList.toggle('error', c.status === 'failed');
  }

  function createTask(t) {
    const name = taskKey(t);
    const tr = el('tr', { class: 'task', 'data-task': name }, el('td', { class: 'name' }));
    for (const cls of ['interval', 'last-run', 'duration', 'last-status', 'next-run']) tr.append(el('td', { class: cls }));
    tr.append(el('td', { class: 'actions' }, el('button', {
      type: 'button', class: 'run-now', onclick: () => runNow(name),
    }, 'Run now')));
    return tr;
  }

  function updateTask(tr, t) {
    const name = taskKey(t);
    tr.dataset.running = t.running ? 'true' : 'false';
    put($('td.name', tr), t.name || name);
    put($('td.interval', tr), formatInterval(t.interval));
    const lastIso = when(t.lastExecution) !== null ? t.lastExecution : t.lastStartTime;
    const last = when(lastIso);
    put($('td.last-run', tr), timeNode(lastIso, 'never'));
    const took = durationMs(t.lastDuration);
    put($('td.duration', tr), last !== null && (t.lastStatus || took > 0) ? formatMs(took) : '—');
    put($('td.last-status', tr), t.lastStatus ? badge(t.lastStatus, t.lastStatus) : '',
      t.lastMessage ? ' ' : '', longText(t.lastMessage));
    put($('td.next-run', tr), t.running ? badge('started', 'running') : timeNode(t.nextExecution));
    const button = $('button.run-now', tr);
    // While the task runs, another request would only join the running job.
    button.disabled = state.pending.has(name) || Boolean(t.running);
    button.setAttribute('aria-label', `Run ${t.name || name} now`);
  }

  function createAuthor(a) {
    const tr = el('tr', { class: 'author', 'data-id': a.id }, el('td', { class: 'name' }));
    for (const cls of ['books', 'files', 'path', 'synced']) tr.append(el('td', { class: cls }));
    tr.append(el('td', { class: 'actions' }, el('button', {
      type: 'button', class: 'refresh', onclick: () => refreshAuthor(a.id),
    }, 'Refresh')));
    return tr;
  }

  function updateAuthor(tr, a) {
    const stats = a.statistics || {};
    put($('td.name', tr), a.authorName || '', a.monitored ? '' : ' ', a.monitored ? '' : badge('low', 'unmonitored'));
    put($('td.books', tr), String(stats.bookCount ?? 0));
    put($('td.files', tr), String(stats.bookFileCount ?? 0));
    put($('td.path', tr), a.path || '');
    put($('td.synced', tr), timeNode(a.lastInfoSync, 'never'));
    $('button.refresh', tr).setAttribute('aria-label', `Refresh ${a.authorName}`);
  }

  function renderAuthors() {
    const authors = [...state.authors].sort((a, b) => (a.sortName || '').localeCompare(b.sortName || ''));
    fill('authors', authors, (a) => a.id, createAuthor, updateAuthor);
    const select = $('#author-root');
    const options = state.roots.map((r) => el('option', { value: r.id }, r.path));
    const current = select.value;
    put(select, ...options);
    if (current) select.value = current;
  }

  function renderHealth() {
    const s = state.snapshot;
    const rows = [];
    if (s) {
      const prios = s.priorities || [];
      const sum = (f) => prios.reduce((n, p) => n + (p[f] || 0), 0);
      const oldest = Math.max(0, ...prios.map((p) => p.oldestQueuedAgeMs || 0));
      const store = s.store || {};
      rows.push(['Workers busy', `${s.running ?? 0} of ${s.workers ?? '?'}`],
        ['Queued', `${sum('queued')}` + (sum('delayed') ? ` (+${sum('delayed')} delayed)` : '')],
        ['Longest wait', oldest ? formatMs(oldest) : '—'],
        ['Store write errors', String(store.writeErrors ?? 0)],
        ['Store size', formatBytes((store.fileBytes || 0) + (store.walBytes || 0))],
        ['Updated', timeNode(s.at)]);
    }
    put($('#summary'), ...rows.map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, v))));

    const open = state.alerts.filter((a) => a.type !== 'ok');
    const items = open.map((a) => el('li', { class: 'alert', 'data-type': a.type, 'data-source': a.source },
      badge(a.type, a.type), ' ', el('strong', {}, a.source || ''), ' ', a.message || '',
      a.wikiUrl ? el('a', { href: a.wikiUrl, target: '_blank', rel: 'noopener noreferrer' }, 'More') : null));
    if (!items.length) items.push(el('li', { class: 'alert-none' }, 'No open alerts.'));
    put($('#alerts'), ...items);
    $('#health').dataset.alerts = String(open.length);
  }

  function render() {
    state.renderTimer = null;
    const all = [...state.commands.values()];
    const time = (iso) => when(iso) ?? 0;
    const running = all.filter((c) => c.status === 'started').sort((a, b) => time(a.started) - time(b.started));
    const queued = all.filter((c) => c.status === 'queued').sort((a, b) =>
      (PRIORITY[a.priority] ?? 9) - (PRIORITY[b.priority] ?? 9) || time(a.queued) - time(b.queued));
    const done = all.filter((c) => TERMINAL.has(c.status)).sort((a, b) => time(b.ended) - time(a.ended));
    // Events keep adding finished jobs; keep memory bounded.
    for (const c of done.slice(HISTORY_LIMIT * 4)) state.commands.delete(c.id);

    fill('running', running, (c) => c.id, jobRow(['progress', 'started'], true), updateRunning);
    fill('queued', queued, (c) => c.id, jobRow(['priority', 'queued', 'not-before'], true), updateQueued);
    fill('history', done.slice(0, HISTORY_LIMIT), (c) => c.id,
      jobRow(['status', 'ended', 'duration', 'message'], false), updateHistory);
    const tasks = [...state.tasks.values()].sort((a, b) => (a.name || '').localeCompare(b.name || ''));
    fill('tasks', tasks, taskKey, createTask, updateTask);
    renderAuthors();
    renderHealth();
  }

  // ---- API key and start-up ---------------------------------------------------------------

  function showNotice(text) {
    const n = $('#notice');
    n.textContent = text;
    n.hidden = !text;
  }

  function readKey() {
    const m = /(?:^#|&)apikey=([^&]*)/.exec(location.hash);
    if (m) {
      const key = decodeURIComponent(m[1]);
      try { localStorage.setItem(KEY_STORE, key); } catch { /* private mode: this visit only */ }
      // Keep the key out of the address bar, bookmarks and screenshots.
      history.replaceState(null, '', location.pathname + location.search);
      return key;
    }
    try { return localStorage.getItem(KEY_STORE); } catch { return null; }
  }

  function askForKey(message) {
    clearTimeout(state.retry);
    if (state.source) state.source.close();
    state.source = null;
    setConnection('offline', 'Not connected');
    $('#dashboard').hidden = true;
    $('#key-form').hidden = false;
    showNotice(message || '');
    $('#key-input').focus();
  }

  function start() {
    $('#key-form').hidden = true;
    $('#dashboard').hidden = false;
    connect();
  }

  $('#add-author').addEventListener('submit', addAuthor);
  $('#refresh-all').addEventListener('click', () => refreshAuthor());

  $('#key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const key = $('#key-input').value.trim();
    if (!key) return;
    try { localStorage.setItem(KEY_STORE, key); } catch { /* this visit only */ }
    state.key = key;
    $('#key-input').value = '';
    showNotice('');
    start();
  });

  // Relative times ("3 minutes ago") and the snapshot age; refresh them while the page is open.
  setInterval(() => {
    if (state.source && state.source.readyState === EventSource.OPEN) refreshSnapshot();
    scheduleRender();
  }, 30000);

  state.key = readKey();
  if (state.key) start(); else askForKey('');
})();
