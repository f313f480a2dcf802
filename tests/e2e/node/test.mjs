// End-to-end tests of Mosaic with node-postgres (`pg`).
// Run: MOSAIC_HOST=127.0.0.1 MOSAIC_PORT=6432 node --test tests/e2e/node/test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';

const { Client, Pool } = pg;

const host = process.env.MOSAIC_HOST;
const port = Number(process.env.MOSAIC_PORT);
if (!host || !port) {
  throw new Error('set MOSAIC_HOST and MOSAIC_PORT to a running Mosaic');
}
const connection = {
  host,
  port,
  user: process.env.MOSAIC_USER || 'mosaic',
  database: process.env.MOSAIC_DATABASE || 'mosaic',
  connectionTimeoutMillis: 10000,
  // client-side guard against a hung query (pg's own timer, not a server setting)
  query_timeout: 30000,
};
const suffix = `${process.pid}_${Date.now() % 1000000}`;
const table = `node_items_${suffix}`;

let client;

before(async () => {
  client = new Client(connection);
  await client.connect();
  await client.query(`CREATE TABLE ${table} (id int PRIMARY KEY, name text, doc json)`);
});

after(async () => {
  if (client) {
    await client.query(`DROP TABLE IF EXISTS ${table}`).catch(() => {});
    await client.end();
  }
});

test('parameterised query with ints, text, null and json', async () => {
  const doc = { tenant: 7, tags: ['a', 'b'], nested: { ok: true } };
  const res = await client.query(
    'SELECT $1::int + $2::int AS sum, $3::text AS t, $4::text AS n, $5::json AS j, $4::int IS NULL AS isnull',
    [40, 2, "héllo 'world' ✓", null, doc],
  );
  assert.equal(res.rowCount, 1);
  const row = res.rows[0];
  assert.equal(row.sum, 42);
  assert.equal(row.t, "héllo 'world' ✓");
  assert.equal(row.n, null);
  assert.equal(row.isnull, true);
  assert.deepEqual(row.j, doc);
  assert.deepEqual(res.fields.map((f) => f.name), ['sum', 't', 'n', 'j', 'isnull']);
});

test('parameterised insert and select round trip', async () => {
  await client.query(`INSERT INTO ${table} VALUES ($1, $2, $3)`, [1, 'one', { k: [1, 2, 3] }]);
  await client.query(`INSERT INTO ${table} VALUES ($1, $2, $3)`, [2, null, null]);
  const res = await client.query(`SELECT id, name, doc FROM ${table} WHERE id = ANY($1::int[]) ORDER BY id`, [[1, 2]]);
  assert.deepEqual(res.rows, [
    { id: 1, name: 'one', doc: { k: [1, 2, 3] } },
    { id: 2, name: null, doc: null },
  ]);
  await client.query(`DELETE FROM ${table} WHERE id IN (1, 2)`);
});

test('transaction commit and rollback', async () => {
  await client.query('BEGIN');
  await client.query(`INSERT INTO ${table} (id, name) VALUES ($1, $2)`, [100, 'committed']);
  await client.query('COMMIT');
  await client.query('BEGIN');
  await client.query(`INSERT INTO ${table} (id, name) VALUES ($1, $2)`, [101, 'rolled back']);
  const inside = await client.query(`SELECT count(*)::int AS c FROM ${table} WHERE id >= 100`);
  assert.equal(inside.rows[0].c, 2);
  await client.query('ROLLBACK');
  const res = await client.query(`SELECT id, name FROM ${table} WHERE id >= 100 ORDER BY id`);
  assert.deepEqual(res.rows, [{ id: 100, name: 'committed' }]);
  // another connection sees the same
  const other = new Client(connection);
  await other.connect();
  try {
    const r2 = await other.query(`SELECT array_agg(id ORDER BY id) AS ids FROM ${table} WHERE id >= 100`);
    assert.deepEqual(r2.rows[0].ids, [100]);
  } finally {
    await other.end();
  }
});

test('bad SQL gives 42601 and the client keeps working', async () => {
  await assert.rejects(client.query('SELEKT 1'), (err) => {
    assert.equal(err.code, '42601');
    assert.match(err.message, /syntax error/);
    return true;
  });
  const res = await client.query('SELECT $1::text AS v', ['alive']);
  assert.equal(res.rows[0].v, 'alive');
  // an error inside a transaction, then ROLLBACK, then work again
  await client.query('BEGIN');
  await assert.rejects(client.query('SELECT 1/0'), (err) => err.code === '22012');
  await assert.rejects(client.query('SELECT 1'), (err) => err.code === '25P02');
  await client.query('ROLLBACK');
  const again = await client.query('SELECT 2 AS two');
  assert.equal(again.rows[0].two, 2);
});

test('named prepared statement on a pool of 5 with 50 concurrent queries', async () => {
  const pool = new Pool({ ...connection, max: 5 });
  // a second pool uses the same statement name for a different query, concurrently:
  // statement names belong to each client connection, Mosaic must keep them apart
  const pool2 = new Pool({ ...connection, max: 3 });
  try {
    for (let round = 0; round < 3; round++) {
      const jobs = [];
      for (let i = 0; i < 50; i++) {
        const v = round * 1000 + i;
        jobs.push(pool.query({ name: 'q1', text: 'SELECT $1::int * 2 AS v, $2::text AS tag', values: [v, `p1-${v}`] })
          .then((r) => ({ pool: 1, v, row: r.rows[0] })));
        if (i % 3 === 0) {
          jobs.push(pool2.query({ name: 'q1', text: 'SELECT $1::int + 1 AS v, $2::text AS tag', values: [v, `p2-${v}`] })
            .then((r) => ({ pool: 2, v, row: r.rows[0] })));
        }
      }
      const results = await Promise.all(jobs);
      assert.equal(results.length, 50 + 17);
      for (const { pool: p, v, row } of results) {
        if (p === 1) assert.deepEqual(row, { v: v * 2, tag: `p1-${v}` });
        else assert.deepEqual(row, { v: v + 1, tag: `p2-${v}` });
      }
    }
    assert.equal(pool.totalCount, 5);
  } finally {
    await pool.end();
    await pool2.end();
  }
});
