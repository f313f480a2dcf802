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

test('statements over several nodes via the extended protocol: merged exactly, written atomically', async () => {
  const dist = `node_dist_${suffix}`;
  const c = new Client(connection);
  await c.connect();
  try {
    await c.query(`CREATE TABLE ${dist} (tenant_id int NOT NULL, id int NOT NULL, amount numeric(10,2), tag text)`);
    // 24 tenants spread over the 3 nodes by their hash; one multi-row INSERT with parameters
    const values = [];
    const params = [];
    for (let t = 1; t <= 24; t++) {
      for (let k = 0; k < 3; k++) {
        const id = t * 10 + k;
        params.push(`($${values.length + 1}, $${values.length + 2}, $${values.length + 3}, $${values.length + 4})`);
        values.push(t, id, (id % 7) + 0.25, k === 0 ? 'a' : 'b');
      }
    }
    const ins = await c.query({ text: `INSERT INTO ${dist} VALUES ${params.join(', ')}`, values });
    assert.equal(ins.rowCount, 72);
    // k-way merge with LIMIT/OFFSET from Bind parameters
    const page = await c.query({ text: `SELECT id FROM ${dist} ORDER BY id DESC LIMIT $1 OFFSET $2`, values: [5, 3] });
    assert.deepEqual(page.rows.map((r) => r.id), [232, 231, 230, 222, 221]);
    // aggregates: exact numeric sum and PostgreSQL's avg scale; GROUP BY + HAVING with a parameter
    let sum = 0;
    for (let i = 2; i < values.length; i += 4) sum += values[i] * 100;
    const agg = await c.query({ text: `SELECT count(*), sum(amount), avg(amount) FROM ${dist} WHERE id >= $1`, values: [0] });
    assert.equal(agg.rows[0].count, '72');
    assert.equal(agg.rows[0].sum, (sum / 100).toFixed(2));
    assert.equal(agg.fields[2].dataTypeID, 1700);
    assert.match(agg.rows[0].avg, /^\d+\.\d{16}$/);
    const grouped = await c.query({ text: `SELECT tag, count(*) FROM ${dist} GROUP BY tag HAVING count(*) > $1 ORDER BY tag`, values: [10] });
    assert.deepEqual(grouped.rows, [{ tag: 'a', count: '24' }, { tag: 'b', count: '48' }]);
    // a transaction writing on several nodes commits on all of them
    await c.query('BEGIN');
    for (let t = 1; t <= 24; t++) {
      await c.query({ text: `UPDATE ${dist} SET amount = amount + $1 WHERE tenant_id = $2`, values: [1, t] });
    }
    await c.query('COMMIT');
    const after = await c.query({ text: `SELECT sum(amount) FROM ${dist} WHERE tag = $1 OR tag = $2`, values: ['a', 'b'] });
    assert.equal(after.rows[0].sum, ((sum + 7200) / 100).toFixed(2));
    // an error on one node fails the statement and the session goes on
    await assert.rejects(c.query({ text: `SELECT id / (id - $1) FROM ${dist}`, values: [100] }), (e) => e.code === '22012');
    const del = await c.query({ text: `DELETE FROM ${dist} WHERE id > $1 RETURNING id`, values: [0] });
    assert.equal(del.rowCount, 72);
    assert.equal(del.rows.length, 72);
  } finally {
    await c.query(`DROP TABLE IF EXISTS ${dist}`);
    await c.end();
  }
});

test('a query string with statements on several nodes runs as one transaction', async () => {
  // client.query without parameters sends the simple protocol: one string, one result each.
  const str = `node_str_${suffix}`;
  const c = new Client(connection);
  await c.connect();
  try {
    await c.query(`CREATE TABLE ${str} (tenant_id int NOT NULL, id int NOT NULL, v int)`);
    const inserts = [];
    for (let t = 1; t <= 24; t++) inserts.push(`INSERT INTO ${str} VALUES (${t}, ${t}, ${t})`);
    const res = await c.query(`${inserts.join('; ')}; SELECT count(*)::int AS n, sum(v)::int AS s FROM ${str}`);
    assert.equal(res.length, 25);
    assert.deepEqual(res[24].rows, [{ n: 24, s: 300 }]);
    // one failing statement rolls back the string's rows on every node
    const more = [];
    for (let t = 1; t <= 24; t++) more.push(`INSERT INTO ${str} VALUES (${t}, ${t + 100}, 1)`);
    await assert.rejects(c.query(`${more.join('; ')}; SELECT 1 / 0`), (e) => e.code === '22012');
    const count = await c.query(`SELECT count(*)::int AS n FROM ${str}`);
    assert.equal(count.rows[0].n, 24);
    // the string's own block
    const updates = [];
    for (let t = 1; t <= 24; t++) updates.push(`UPDATE ${str} SET v = v * 2 WHERE tenant_id = ${t}`);
    const block = await c.query(`BEGIN; ${updates.join('; ')}; COMMIT`);
    assert.equal(block.length, 26);
    const sum = await c.query(`SELECT sum(v)::int AS s FROM ${str}`);
    assert.equal(sum.rows[0].s, 600);
  } finally {
    await c.query(`DROP TABLE IF EXISTS ${str}`);
    await c.end();
  }
});

test('a table just dropped gives PostgreSQL\'s 42P01 over the extended protocol', async () => {
  // The node's error as over the simple protocol (test_protocol.py checks the exact replies:
  // no ParseComplete before it; node-postgres would not notice one).
  const gone = `node_gone_${suffix}`;
  const c = new Client(connection);
  await c.connect();
  try {
    await c.query(`CREATE TABLE ${gone} (tenant_id int NOT NULL, id int NOT NULL)`);
    await c.query(`INSERT INTO ${gone} VALUES (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (7, 7), (8, 8)`);
    const text = `SELECT count(*)::int AS n FROM ${gone} WHERE tenant_id = $1`;
    // until its shape runs fast enough to be pipelined (usually at once; see test_protocol.py)
    for (let i = 0; i < 20; i++) assert.equal((await c.query(text, [3])).rows[0].n, 1);
    await c.query(`DROP TABLE ${gone}`);
    for (let i = 0; i < 2; i++) {
      await assert.rejects(c.query(text, [3]), (err) => {
        assert.equal(err.code, '42P01');
        assert.equal(err.message, `relation "${gone}" does not exist`);
        assert.equal(err.position, '32');
        return true;
      });
    }
    assert.equal((await c.query('SELECT $1::int AS v', [7])).rows[0].v, 7);
  } finally {
    await c.end();
  }
});
