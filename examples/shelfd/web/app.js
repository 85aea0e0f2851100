// SPDX-License-Identifier: MIT
// shelfd dashboard: lists and figures come from the REST API, then the event stream keeps them
// current: "command", "task", "health" and "minute" messages from the engine, and the catalog's
// own events (AuthorAdded, BookAdded, AuthorRefreshed, ...) for the author list.
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
    authors: [], roots: [], catalogOn: true,
    authorsDue: new Set(), authorsTimer: null, // authors to read again after catalog events
    activity: [],       // the latest catalog events, newest first
    // Charts: minute start (ms) -> {completed, failed, cancelled, queued, delayed, running}.
    minutes: new Map(),
    closed: new Set(),  // minutes whose figures came from the engine ("minute" messages)
    counted: new Map(), // job id -> minute it was counted in (open minutes, from "command")
    figuresAt: 0,       // the time of the figures read at load: later ends are counted here
    bounds: [],         // duration bins' upper bounds in ms
    range: 180,         // minutes shown
  };
  const ACTIVITY_LIMIT = 12;
  const MINUTE = 60000;

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
    // A FormData body (an upload) sets its own multipart type.
    if (options.body && !(options.body instanceof FormData)) headers['Content-Type'] = 'application/json';
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
      const [commands, tasks, alerts, figures] = await Promise.all([
        api('command'), api('system/task'), api('health'), api('system/figures')]);
      const fresh = new Map();
      for (const c of commands) fresh.set(c.id, newer(state.commands.get(c.id), c));
      state.commands = fresh;
      state.tasks = new Map(tasks.map((t) => [taskKey(t), t]));
      state.alerts = alerts;
      loadFigures(figures);
      // Events sent while the lists were on their way may be newer than the lists.
      for (const [apply, data] of replay) apply(data);
      showNotice('');
    } catch (err) {
      if (!(err instanceof AuthError)) showNotice(`Could not load the lists: ${err.message}`);
    } finally {
      if (state.replay === replay) state.replay = null;
    }
    refreshAuthors();
    for (const section of sections) section.refetch();
    scheduleRender();
  }

  // Sections in files of their own (library.js) register a factory in window.shelfdSections
  // before this file runs; each gets the page's helpers and returns {events, refetch, render}.
  let sections = [];
  function makeSections() {
    const helpers = { api, el, put, $, timeNode, showNotice, upsertCommand, scheduleRender, AuthError };
    sections = (window.shelfdSections || []).map((make) => make(helpers));
  }

  // The catalog is read at start; then its events say which authors to read again.
  async function refreshAuthors() {
    try {
      const [authors, roots] = await Promise.all([api('author'), api('rootfolder')]);
      state.authors = authors;
      state.roots = roots;
      scheduleRender();
    } catch { /* the list keeps its last values */ }
  }

  function upsertAuthor(a) {
    state.authors = [...state.authors.filter((x) => x.id !== a.id), a];
  }

  function removeAuthor(id) {
    state.authors = state.authors.filter((x) => x.id !== id);
    state.authorsDue.delete(id);
  }

  // Reads the authors named by recent events again (their book counts, paths, sync times), in
  // one go: a refresh that adds twenty books reads its author once.
  async function rereadAuthors() {
    state.authorsTimer = null;
    const ids = [...state.authorsDue];
    state.authorsDue.clear();
    await Promise.all(ids.map(async (id) => {
      try {
        upsertAuthor(await api(`author/${encodeURIComponent(id)}`));
      } catch (err) {
        if (!(err instanceof AuthError)) removeAuthor(id); // gone (404) since the event
      }
    }));
    scheduleRender();
  }

  function rereadAuthorSoon(id) {
    if (!id) return;
    state.authorsDue.add(id);
    if (!state.authorsTimer) state.authorsTimer = setTimeout(rereadAuthors, 300);
  }

  function noteActivity(text) {
    state.activity.unshift({ at: new Date().toISOString(), text });
    state.activity.length = Math.min(state.activity.length, ACTIVITY_LIMIT);
  }

  const authorName = (id) => (state.authors.find((a) => a.id === id) || {}).authorName || `author ${id}`;

  // The catalog's events: what changed, so the author list follows without guessing.
  const CATALOG_EVENTS = {
    AuthorAdded: (e) => {
      const a = e.author || {};
      // Shown at once from the event; read again for the statistics.
      if (!state.authors.some((x) => x.id === a.id)) upsertAuthor({ ...a, statistics: { bookCount: 0, bookFileCount: 0, totalBookCount: 0 } });
      rereadAuthorSoon(e.authorId);
      noteActivity(`${a.authorName || 'An author'} added`);
    },
    BookAdded: (e) => {
      rereadAuthorSoon(e.authorId);
      if (!e.fromRefresh) noteActivity(`${(e.book || {}).title || 'A book'} added to ${authorName(e.authorId)}`);
    },
    AuthorRefreshed: (e) => {
      rereadAuthorSoon(e.authorId);
      const parts = [['booksAdded', 'added'], ['booksUpdated', 'updated'], ['booksRemoved', 'removed']]
        .filter(([k]) => e[k] > 0).map(([k, w]) => `${e[k]} book${e[k] === 1 ? '' : 's'} ${w}`);
      noteActivity(`${authorName(e.authorId)} refreshed${parts.length ? ': ' + parts.join(', ') : e.changed ? '' : ', unchanged'}`);
    },
    AuthorRenamed: (e) => {
      rereadAuthorSoon(e.authorId);
      noteActivity(`${e.oldName} is now ${e.newName}`);
    },
    AuthorMoved: (e) => {
      rereadAuthorSoon(e.authorId);
      noteActivity(`${authorName(e.authorId)} moved to ${e.newPath}`);
    },
    AuthorMerged: (e) => {
      if (e.fromAuthorId) removeAuthor(e.fromAuthorId);
      rereadAuthorSoon(e.intoAuthorId);
      noteActivity(`${authorName(e.intoAuthorId)} merged with another author`);
    },
    AuthorEdited: (e) => {
      const a = e.author || {};
      const known = state.authors.find((x) => x.id === a.id);
      if (known) upsertAuthor({ ...known, ...a, statistics: known.statistics });
      else rereadAuthorSoon(e.authorId);
      noteActivity(`${a.authorName || authorName(e.authorId)} edited: ${a.monitored ? 'monitored' : 'unmonitored'}, in ${a.path || 'no folder'}`);
    },
    BookEdited: (e) => {
      const b = e.book || {};
      rereadAuthorSoon(e.authorId);
      noteActivity(`${b.title || 'A book'} of ${authorName(e.authorId)} ${b.monitored ? 'monitored' : 'unmonitored'}`);
    },
    BookRemoved: (e) => {
      rereadAuthorSoon(e.authorId);
      noteActivity(`${(e.book || {}).title || 'A book'} removed from ${authorName(e.authorId)}${e.filesDeleted ? ', with its files' : ''}`);
    },
    AuthorRemoved: (e) => {
      removeAuthor(e.authorId);
      noteActivity(`${(e.author || {}).authorName || 'An author'} removed${e.reason ? ': ' + e.reason : ''}`);
    },
  };

  // ---- figures for the charts -------------------------------------------------------------

  const minuteOf = (t) => Math.floor(t / MINUTE) * MINUTE;

  function loadFigures(f) {
    state.snapshot = f;
    state.bounds = f.durationBinBoundsMs || [];
    state.figuresAt = when(f.at) ?? Date.now();
    state.minutes = new Map();
    state.closed = new Set();
    state.counted = new Map();
    const open = minuteOf(state.figuresAt);
    for (const m of f.minutes || []) {
      const t = when(m.minute);
      if (t === null) continue;
      state.minutes.set(t, m);
      if (t < open) state.closed.add(t);
    }
  }

  // A job that ended after the figures were read counts in its minute until the engine closes
  // that minute with its own figures.
  function countEnd(c) {
    const ended = when(c.ended);
    if (!TERMINAL.has(c.status) || ended === null || ended < state.figuresAt || state.counted.has(c.id)) return;
    const t = minuteOf(ended);
    if (state.closed.has(t)) return;
    state.counted.set(c.id, t);
    const m = state.minutes.get(t) || { completed: 0, failed: 0, cancelled: 0, queued: 0, delayed: 0, running: 0 };
    m[c.status] = (m[c.status] || 0) + 1;
    state.minutes.set(t, m);
  }

  function closeMinute(m) {
    const t = when(m.minute);
    if (t === null) return;
    state.minutes.set(t, m);
    state.closed.add(t);
    for (const [id, at] of state.counted) if (at === t) state.counted.delete(id);
    // Keep a day, as the engine does.
    for (const k of state.minutes.keys()) if (k < t - 1440 * MINUTE) { state.minutes.delete(k); state.closed.delete(k); }
  }

  async function refreshSnapshot() {
    clearTimeout(state.snapshotTimer);
    state.snapshotTimer = null;
    try {
      state.snapshot = await api('system/jobs');
      scheduleRender();
    } catch { /* the summary keeps its last values; the lists report errors */ }
  }

  // The snapshot (durations, queue now) is not pushed: after job or alert changes, fetch it
  // again, at most every 2 s.
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
      countEnd(c);
      refreshSnapshotSoon(); // queue, worker counts and durations moved
    });
    listen(src, 'task', (t) => state.tasks.set(taskKey(t), t));
    listen(src, 'health', (alerts) => {
      state.alerts = Array.isArray(alerts) ? alerts : [];
      refreshSnapshotSoon();
    });
    listen(src, 'minute', closeMinute);
    for (const [name, apply] of Object.entries(CATALOG_EVENTS)) listen(src, name, apply);
    for (const section of sections)
      for (const [name, apply] of Object.entries(section.events)) listen(src, name, apply);
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
      upsertAuthor(a);
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
    put($('td.books', tr), String(stats.totalBookCount ?? stats.bookCount ?? 0));
    put($('td.files', tr), String(stats.bookFileCount ?? 0));
    put($('td.path', tr), a.path || '');
    put($('td.synced', tr), timeNode(a.lastInfoSync, 'never'));
    $('button.refresh', tr).setAttribute('aria-label', `Refresh ${a.authorName}`);
  }

  function renderAuthors() {
    const sortKey = (a) => a.sortNameLastFirst || a.sortName || '';
    const authors = [...state.authors].sort((a, b) => sortKey(a).localeCompare(sortKey(b)));
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
        ['Store write errors', String(store.writeErrors ?? 0) + (store.failing ? ' (failing now)' : '')],
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

  // ---- charts -----------------------------------------------------------------------------

  const FINISHED = [{ key: 'completed', label: 'Completed' }, { key: 'failed', label: 'Failed' },
    { key: 'cancelled', label: 'Cancelled' }];
  const WAITING = [{ key: 'queued', label: 'Ready' }, { key: 'delayed', label: 'Delayed' },
    { key: 'running', label: 'Running' }];

  // Draws `make()` into `node` only when `data` changed since the last drawing there.
  const drawn = new WeakMap();
  function draw(node, data, make) {
    const key = JSON.stringify(data);
    if (drawn.get(node) === key) return;
    drawn.set(node, key);
    node.replaceChildren(...[].concat(make()));
  }

  function renderCharts() {
    const binMin = state.range <= 180 ? 1 : state.range <= 720 ? 5 : 10;
    const binMs = binMin * MINUTE;
    const now = Date.now();
    const to = Math.ceil((minuteOf(now) + MINUTE) / binMs) * binMs;
    const from = to - state.range * MINUTE;
    const prios = (state.snapshot && state.snapshot.priorities) || [];
    const live = Object.fromEntries(WAITING.map(({ key }) => [key, prios.reduce((n, p) => n + (p[key] || 0), 0)]));
    const finished = [], waiting = [];
    for (let t = from; t < to; t += binMs) {
      const sum = { completed: 0, failed: 0, cancelled: 0 }, peak = { queued: 0, delayed: 0, running: 0 };
      for (let m = t; m < t + binMs; m += MINUTE) {
        const f = state.minutes.get(m);
        if (f) for (const k of Object.keys(sum)) sum[k] += f[k] || 0;
        // Closed minutes carry the queue at their end; the open one is the queue now.
        const q = state.closed.has(m) ? f : m === minuteOf(now) ? live : null;
        if (q) for (const k of Object.keys(peak)) peak[k] = Math.max(peak[k], q[k] || 0);
      }
      if (sum.completed + sum.failed + sum.cancelled > 0) finished.push({ t, values: sum });
      if (t <= now) waiting.push({ t, values: peak });
    }
    const per = binMin === 1 ? 'minute' : `${binMin} min`;
    draw($('#chart-throughput'), { from, to, finished }, () => ShelfCharts.stackedBars({
      id: 'throughput-svg', title: `Jobs finished per ${per}`, bins: finished, keys: FINISHED,
      from, to, binMs, yLabel: `jobs / ${per}`,
    }));
    draw($('#chart-queue'), { from, to, waiting }, () => ShelfCharts.lines({
      id: 'queue-svg', title: binMin === 1 ? 'Jobs waiting and running' : `Jobs waiting and running (peak per ${per})`,
      bins: waiting, keys: WAITING, from, to, yLabel: 'jobs',
    }));

    const types = ((state.snapshot && state.snapshot.types) || [])
      .filter((t) => Array.isArray(t.durations) && t.durations.some((n) => n > 0))
      .map((t) => ({ name: t.name, counts: t.durations, avg: t.avgDurationMs, p95: t.p95DurationMs }));
    const durations = $('#chart-durations');
    draw(durations, { types, bounds: state.bounds }, () => types.length ? types.map((t) => {
      const runs = t.counts.reduce((a, b) => a + b, 0);
      return el('figure', { class: 'histogram-box', 'data-type': t.name },
        el('figcaption', {}, el('strong', {}, t.name), ' ',
          el('span', { class: 'muted' }, `${runs} run${runs === 1 ? '' : 's'} · average ${formatMs(t.avg)} · p95 ${formatMs(t.p95)}`)),
        ShelfCharts.histogram({ title: `Run times of ${t.name}`, type: t.name, counts: t.counts, bounds: state.bounds }));
    }) : el('p', { class: 'empty' }, 'No job has finished in the last 24 hours.'));
  }

  function renderActivity() {
    const items = state.activity.map((a) => el('li', {}, timeNode(a.at), ' ', a.text));
    if (!items.length) items.push(el('li', { class: 'activity-none' }, 'No catalog change since this page opened.'));
    put($('#activity'), ...items);
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
    renderActivity();
    renderHealth();
    renderCharts();
    for (const section of sections) section.render();
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
    if (!sections.length) makeSections();
    $('#key-form').hidden = true;
    $('#dashboard').hidden = false;
    connect();
  }

  $('#add-author').addEventListener('submit', addAuthor);
  $('#chart-range').addEventListener('change', (e) => {
    state.range = Number(e.target.value) || 180;
    scheduleRender();
  });
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
