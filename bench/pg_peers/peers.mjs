// SPDX-License-Identifier: MIT
// The peers of `engine_bench --store postgres`: graphile-worker and pg-boss run the same work as
// its jobs_per_s figure (N durable no-op jobs enqueued in bulk, then run to completion) against
// the same PostgreSQL database, each in a schema of its own that is dropped before and after.
//
//   node peers.mjs postgresql://user@host:port/db [jobs=20000] [rounds=3]
//
// Prints one JSON line: {"graphile_worker_per_s": ..., "pg_boss_per_s": ..., "per_round": {...}}.
// Each library runs as its documentation recommends for throughput: graphile-worker with 10
// concurrent jobs (its default) woken by LISTEN/NOTIFY, jobs added in bulk through its add_jobs
// SQL function; pg-boss with four fetch loops of up to 1,000 jobs and its shortest polling
// interval, jobs added with insert().
import { run } from "graphile-worker";
import PgBoss from "pg-boss";
import pg from "pg";

const url = process.argv[2];
const jobs = Number(process.argv[3] ?? 20000);
const rounds = Number(process.argv[4] ?? 3);
if (!url || !(jobs > 0) || !(rounds > 0)) {
  console.error("usage: node peers.mjs postgresql://... [jobs] [rounds]");
  process.exit(2);
}

async function dropSchema(name) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
  await client.end();
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function graphileWorkerRound() {
  const schema = "bench_graphile_worker";
  await dropSchema(schema);
  let done = 0;
  let resolveDone;
  const allDone = new Promise((r) => (resolveDone = r));
  const runner = await run({
    connectionString: url,
    schema,
    concurrency: 10,
    noHandleSignals: true,
    pollInterval: 1000,
    logger: undefined,
    taskList: {
      noop: async () => {
        if (++done === jobs) resolveDone();
      },
    },
  });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const t0 = performance.now();
  for (let first = 1; first <= jobs; first += 500) {
    const last = Math.min(jobs, first + 499);
    await client.query(
      `SELECT count(*) FROM ${schema}.add_jobs((SELECT array_agg(row('noop', json_build_object('n', g), ` +
        `NULL, NULL, 1, NULL, 0, NULL)::${schema}.job_spec) FROM generate_series($1::int, $2::int) g))`,
      [first, last],
    );
  }
  await allDone;
  const perS = jobs / ((performance.now() - t0) / 1000);
  await client.end();
  await runner.stop();
  await dropSchema(schema);
  return perS;
}

async function pgBossRound() {
  const schema = "bench_pg_boss";
  await dropSchema(schema);
  const boss = new PgBoss({ connectionString: url, schema });
  boss.on("error", (e) => console.error("pg-boss:", e.message));
  await boss.start();
  await boss.createQueue("noop");
  let done = 0;
  let resolveDone;
  const allDone = new Promise((r) => (resolveDone = r));
  const t0 = performance.now();
  for (let first = 1; first <= jobs; first += 500) {
    const batch = [];
    for (let n = first; n <= Math.min(jobs, first + 499); n++) batch.push({ name: "noop", data: { n } });
    await boss.insert(batch);
  }
  // Four fetch loops of up to 1,000 jobs each: one loop fetches a batch, runs it and waits out
  // the polling interval, so a single loop of 100 would cap pg-boss at 200 jobs/s here.
  for (let w = 0; w < 4; w++) {
    await boss.work("noop", { batchSize: 1000, pollingIntervalSeconds: 0.5 }, async (batch) => {
      done += batch.length;
      if (done >= jobs) resolveDone();
    });
  }
  await allDone;
  const perS = jobs / ((performance.now() - t0) / 1000);
  await boss.stop({ graceful: true, wait: true });
  await dropSchema(schema);
  return perS;
}

// Quiet the libraries' own logging: this program prints one line.
console.log = () => {};
console.info = () => {};
const out = { graphile_worker_per_s: 0, pg_boss_per_s: 0, per_round: { graphile_worker: [], pg_boss: [] } };
for (let r = 0; r < rounds; r++) {
  out.per_round.graphile_worker.push(await graphileWorkerRound());
  out.per_round.pg_boss.push(await pgBossRound());
}
out.graphile_worker_per_s = median(out.per_round.graphile_worker);
out.pg_boss_per_s = median(out.per_round.pg_boss);
process.stdout.write(JSON.stringify(out) + "\n");
process.exit(0);
