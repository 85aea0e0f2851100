// SPDX-License-Identifier: MIT
// shelfd as published Readarr clients see it: arr-sdk's ReadarrClient reads every route it
// offers, then adds, edits and removes an author as its users do, and tsarr's command-line
// client lists what a person would list. Each call prints OK or FAIL; any FAIL (or the daemon
// gone) exits 1. Run by run.sh against `shelfd demo --serve`; see docs/shelfd.md ("Tried by
// Readarr's clients").
//
// Usage: node readarr_clients.mjs URL API_KEY

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ReadarrClient } from 'arr-sdk/readarr';

const [url, key] = process.argv.slice(2);
if (!url || !key) {
  console.error('usage: node readarr_clients.mjs URL API_KEY');
  process.exit(2);
}

let failures = 0;
async function check(name, fn, expect = () => true) {
  try {
    const value = await fn();
    const why = expect(value);
    if (why === true) {
      console.log(`OK   ${name}`);
    } else {
      failures++;
      console.log(`FAIL ${name}: ${why || 'unexpected answer'}: ${JSON.stringify(value)?.slice(0, 200)}`);
    }
    return value;
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e?.statusCode ?? ''} ${String(e?.message ?? e).slice(0, 200)}`);
    return undefined;
  }
}
const isArray = (v) => Array.isArray(v) || 'not a list';
const paged = (v) => (Array.isArray(v?.records) && Number.isInteger(v?.totalRecords)) || 'not a paged list';
const has = (...keys) => (v) => {
  const missing = keys.filter((k) => v?.[k] === undefined);
  return missing.length === 0 || `missing ${missing.join(', ')}`;
};

const c = new ReadarrClient({ baseUrl: url, apiKey: key });

// Reads, as the SDK offers them.
await check('system.getStatus', () => c.system.getStatus(), has('version', 'appName', 'startTime'));
await check('health.getAll', () => c.health.getAll(), isArray);
await check('diskSpace.getAll', () => c.diskSpace.getAll(), isArray);
await check('task.getAll', () => c.task.getAll(), isArray);
await check('update.getAll', () => c.update.getAll(), isArray);
await check('backup.getAll', () => c.backup.getAll(), isArray);
await check('log.get', () => c.log.get(), paged);
await check('logFile.getAll', () => c.logFile.getAll(), isArray);
await check('command.getAll', () => c.command.getAll(), isArray);
await check('qualityProfile.getAll', () => c.qualityProfile.getAll(), isArray);
await check('qualityDefinition.getAll', () => c.qualityDefinition.getAll(), isArray);
await check('metadataProfile.getAll', () => c.metadataProfile.getAll(), isArray);
await check('tag.getAll', () => c.tag.getAll(), isArray);
await check('tagDetails.getAll', () => c.tagDetails.getAll(), isArray);
const roots = await check('rootFolder.getAll', () => c.rootFolder.getAll(), isArray);
const authors = await check('author.getAll', () => c.author.getAll(), (v) =>
  (Array.isArray(v) && v.length > 0) || 'no authors (run against shelfd demo)');
const author = authors?.[0];
await check('author.getById', () => c.author.getById(author.id),
  has('authorName', 'sortName', 'sortNameLastFirst', 'titleSlug', 'qualityProfileId', 'statistics'));
const books = await check('book.getAll', () => c.book.getAll(), (v) =>
  (Array.isArray(v) && v.every((b) => b.author?.authorName)) || 'a book without its author');
await check('book.getById', () => c.book.getById(books[0].id), has('author', 'authorTitle', 'editions', 'statistics'));
await check('book.getByAuthorId', () => c.book.getByAuthorId(author.id), isArray);
await check('edition.getById', () => c.edition.getById(books[0].editions[0].id), has('foreignEditionId'));
await check('bookFile.getAll', () => c.bookFile.getAll({ authorId: author.id }), isArray);
await check('calendar.get', () => c.calendar.get({ start: '2000-01-01', end: '2100-01-01', unmonitored: true }), isArray);
await check('queue.get', () => c.queue.get(), paged);
await check('queue.getStatus', () => c.queue.getStatus(), has('totalCount'));
await check('queue.bulkDelete (no ids)', () => c.queue.bulkDelete([], { removeFromClient: false }), () => true);
await check('history.get', () => c.history.get(), paged);
await check('history.getByAuthorId', () => c.history.getByAuthorId(author.id), isArray);
await check('history.getSince', () => c.history.getSince('2000-01-01'), isArray);
await check('wanted.getMissing', () => c.wanted.getMissing(), paged);
await check('wanted.getCutoffUnmet', () => c.wanted.getCutoffUnmet(), paged);
await check('author.lookup', () => c.author.lookup(author.authorName), isArray);
await check('book.lookup', () => c.book.lookup(books[0].title), isArray);

// Writes, as a person does them through a client: remove an author, find it again, add it
// back into a root folder with a quality profile, edit it, and run a command.
await check('author.delete', () => c.author.delete(author.id));
const found = await check('author.lookup (removed)', () => c.author.lookup(author.authorName), (v) =>
  (Array.isArray(v) && v.some((a) => a.id === 0 && a.foreignAuthorId === author.foreignAuthorId)) ||
  'the removed author is not offered to add');
const profiles = await c.qualityProfile.getAll();
const again = await check('author.create', () => c.author.create({
  ...found.find((a) => a.foreignAuthorId === author.foreignAuthorId),
  qualityProfileId: profiles[0].id,
  rootFolderPath: roots.find((r) => r.accessible).path,
  monitored: true,
  addOptions: { searchForMissingBooks: false },
}), has('id', 'path'));
await check('author.update', () => c.author.update(again.id, { ...again, monitored: false }), (v) =>
  v?.monitored === false || 'still monitored');
await check('command.rescanFolders', () => c.command.rescanFolders(), has('id', 'name'));

// tsarr's command-line client, as a person types it.
// Its package exports no path to the program; the package's own folder holds it.
const tsarr = fileURLToPath(new URL('./node_modules/tsarr/dist/cli/index.js', import.meta.url));
const env = { ...process.env, TSARR_READARR_URL: url, TSARR_READARR_API_KEY: key };
for (const args of [['author', 'list'], ['book', 'list'], ['profile', 'list'], ['rootfolder', 'list'],
                    ['queue', 'status'], ['system', 'status']]) {
  await check(`tsarr readarr ${args.join(' ')}`, () => {
    const out = execFileSync(process.execPath, [tsarr, 'readarr', ...args, '--json'], { env, encoding: 'utf8' });
    return JSON.parse(out);
  }, (v) => (v !== null && typeof v === 'object') || 'no JSON');
}

console.log(failures === 0 ? 'every call answered as a Readarr client expects' : `${failures} call(s) failed`);
process.exit(failures === 0 ? 0 : 1);
