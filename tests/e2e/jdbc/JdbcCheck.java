// JDBC (pgjdbc) scenarios for the Mosaic end-to-end tests (tests/e2e/test_jdbc.py).
//
//   java -cp CLASSES:/usr/share/java/postgresql.jar JdbcCheck URL SCENARIO [key=value ...]
//
// URL is a jdbc:postgresql:// URL (Mosaic, or a plain PostgreSQL for the differential run).
// Each scenario prints one JSON object per line on stdout, each with a "step" key. SQL errors
// are printed as {"state": SQLSTATE, "msg": message}; test_jdbc.py compares the SQLSTATEs and
// ignores the keys "msg", "elapsed_ms" and "wire" (pgjdbc's protocol messages, counted from its
// log) when it compares two runs. Anything that is not an SQLException (a bug in this program, a
// driver failure) ends the program with exit code 1 and a stack trace on stderr.
//
// Scenarios: types, prepared_multi_node, batch, dml_counts, tx, fetch, timeout, metadata, pool,
// ddl.

import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

public final class JdbcCheck {
    static String baseUrl;
    static Map<String, String> opts = new LinkedHashMap<>();

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: JdbcCheck URL SCENARIO [key=value ...]");
            System.exit(2);
        }
        baseUrl = args[0];
        for (int i = 2; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            opts.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        switch (args[1]) {
            case "types": types(); break;
            case "prepared_multi_node": preparedMultiNode(); break;
            case "batch": batch(); break;
            case "tx": tx(); break;
            case "fetch": fetch(); break;
            case "timeout": timeout(); break;
            case "metadata": metadata(); break;
            case "pool": pool(); break;
            case "ddl": ddlScenario(); break;
            case "dml_counts": dmlCounts(); break;
            case "settings": settings(); break;
            case "temp": tempTables(); break;
            default:
                System.err.println("unknown scenario " + args[1]);
                System.exit(2);
        }
        System.out.flush();
    }

    // ------------------------------------------------------------------ helpers

    /** A connection to the URL with extra properties ("k=v&k2=v2", may be empty). */
    static Connection connect(String extra) throws SQLException {
        String url = baseUrl;
        if (!extra.isEmpty()) url += (url.contains("?") ? "&" : "?") + extra;
        return DriverManager.getConnection(url);
    }

    static String table() { return opts.get("table"); }

    static int[] tenants() {
        String[] parts = opts.get("tenants").split(",");
        int[] out = new int[parts.length];
        for (int i = 0; i < parts.length; i++) out[i] = Integer.parseInt(parts[i].trim());
        return out;
    }

    static Connection ddlConn;

    /** DDL for a scenario's setup, over the simple query protocol (preferQueryMode=simple):
     *  the scenarios test their statements, not DDL over the extended protocol (scenario ddl). */
    static void ddl(String sql) throws SQLException {
        if (ddlConn == null) ddlConn = connect("preferQueryMode=simple");
        exec(ddlConn, sql);
    }

    static void exec(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }

    static Map<String, Object> err(SQLException e) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("state", e.getSQLState());
        m.put("msg", e.getMessage());
        return m;
    }

    /** Runs sql with the Statement; the result rows, or the error. */
    static Object queryRows(Connection c, String sql) {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            return rows(rs);
        } catch (SQLException e) {
            return err(e);
        }
    }

    /** Executes sql; its update count (or true/false for a result set), or the error. */
    static Object update(Connection c, String sql) {
        try (Statement st = c.createStatement()) {
            boolean isRs = st.execute(sql);
            return isRs ? "resultset" : st.getUpdateCount();
        } catch (SQLException e) {
            return err(e);
        }
    }

    static List<List<Object>> rows(ResultSet rs) throws SQLException {
        List<List<Object>> out = new ArrayList<>();
        int n = rs.getMetaData().getColumnCount();
        while (rs.next()) out.add(row(rs, n));
        return out;
    }

    static List<Object> row(ResultSet rs, int n) throws SQLException {
        List<Object> r = new ArrayList<>();
        for (int i = 1; i <= n; i++) r.add(render(rs.getObject(i)));
        return r;
    }

    /** A value as the application sees it: its Java class and its value. */
    static Object render(Object o) {
        if (o == null) return null;
        if (o instanceof byte[]) return "byte[]:" + hex((byte[]) o);
        if (o instanceof Integer || o instanceof Long || o instanceof Boolean) return o;
        return o.getClass().getSimpleName() + ":" + o;
    }

    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder("\\x");
        for (byte x : b) sb.append(String.format("%02x", x & 0xff));
        return sb.toString();
    }

    static void emit(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
        StringBuilder sb = new StringBuilder();
        json(sb, m);
        synchronized (System.out) {
            System.out.println(sb);
            System.out.flush();
        }
    }

    static void json(StringBuilder sb, Object o) {
        if (o == null) {
            sb.append("null");
        } else if (o instanceof Boolean || o instanceof Integer || o instanceof Long
                   || o instanceof Short) {
            sb.append(o);
        } else if (o instanceof Map) {
            sb.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : ((Map<?, ?>) o).entrySet()) {
                if (!first) sb.append(',');
                first = false;
                quote(sb, String.valueOf(e.getKey()));
                sb.append(':');
                json(sb, e.getValue());
            }
            sb.append('}');
        } else if (o instanceof Collection) {
            sb.append('[');
            boolean first = true;
            for (Object x : (Collection<?>) o) {
                if (!first) sb.append(',');
                first = false;
                json(sb, x);
            }
            sb.append(']');
        } else if (o instanceof int[]) {
            List<Object> l = new ArrayList<>();
            for (int x : (int[]) o) l.add(x);
            json(sb, l);
        } else {
            quote(sb, String.valueOf(o));
        }
    }

    static void quote(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            switch (ch) {
                case '"': sb.append("\\\""); break;
                case '\\': sb.append("\\\\"); break;
                case '\n': sb.append("\\n"); break;
                case '\r': sb.append("\\r"); break;
                case '\t': sb.append("\\t"); break;
                default:
                    if (ch < 0x20) sb.append(String.format("\\u%04x", (int) ch));
                    else sb.append(ch);
            }
        }
        sb.append('"');
    }

    // ---- protocol messages pgjdbc sends, counted from its FINEST log
    static final Map<String, AtomicInteger> wire = new ConcurrentHashMap<>();
    static final List<Handler> keep = new ArrayList<>();

    static void countWire() {
        Logger l = Logger.getLogger("org.postgresql");
        l.setLevel(Level.FINEST);
        l.setUseParentHandlers(false);
        Handler h = new Handler() {
            @Override public void publish(LogRecord r) {
                String m = r.getMessage();
                if (m == null) return;
                if (m.startsWith(" FE=> Parse(stmt=S_")) bump("parse_named");
                else if (m.startsWith(" FE=> Parse(stmt=null")) bump("parse_unnamed");
                else if (m.startsWith(" FE=> Bind(stmt=S_")) bump("bind_named");
                else if (m.startsWith(" FE=> Bind(stmt=null")) bump("bind_unnamed");
                else if (m.contains("FE=> Execute(portal=")) {
                    Object[] p = r.getParameters();
                    if (p != null && p.length > 1 && p[0] != null && !"0".equals(String.valueOf(p[1])))
                        bump("execute_limited");
                }
            }
            @Override public void flush() {}
            @Override public void close() {}
        };
        h.setLevel(Level.ALL);
        l.addHandler(h);
        keep.add(h);  // a logger holds its handlers; keep a reference anyway
    }

    static void bump(String k) { wire.computeIfAbsent(k, x -> new AtomicInteger()).incrementAndGet(); }

    static Map<String, Object> wireCounts() {
        Map<String, Object> m = new LinkedHashMap<>();
        for (String k : new String[] {"parse_named", "bind_named", "parse_unnamed", "bind_unnamed",
                                      "execute_limited"}) {
            AtomicInteger v = wire.get(k);
            m.put(k, v == null ? 0 : v.get());
        }
        return m;
    }

    static void resetWire() { wire.clear(); }

    // ------------------------------------------------------------------ 1. types

    static final class Vals {
        Integer i; Long b; String s; BigDecimal n; LocalDateTime ts; OffsetDateTime tstz;
        Boolean bo; byte[] by; UUID u;

        static Vals of(int it) {
            Vals v = new Vals();
            int[] ints = {0, 1, -1, Integer.MAX_VALUE, Integer.MIN_VALUE, 42, 7, -123456};
            long[] longs = {0L, Long.MAX_VALUE, Long.MIN_VALUE, 1L << 40, -7L, 9007199254740993L};
            String[] strs = {"", "héllo 'quoted' \\ world", "tab\tnew\nline", "✓ 日本語 🙂",
                             "plain", "NULL", "$1 ? :x"};
            String[] nums = {"0", "12345678901234567890.0123456789", "-0.000001", "1.50",
                             "100", "-99999999999999999999999999.99"};
            LocalDateTime[] tss = {
                LocalDateTime.of(2024, 2, 29, 23, 59, 58, 123456000),
                LocalDateTime.of(1999, 12, 31, 0, 0, 0),
                LocalDateTime.of(2038, 1, 19, 3, 14, 7, 999999000),
                LocalDateTime.of(1970, 1, 1, 0, 0, 0, 1000),
                LocalDateTime.of(1900, 6, 15, 12, 30, 0)};
            OffsetDateTime[] tstzs = {
                OffsetDateTime.of(2024, 2, 29, 23, 59, 58, 123456000, ZoneOffset.ofHoursMinutes(5, 30)),
                OffsetDateTime.of(2020, 1, 1, 0, 0, 0, 0, ZoneOffset.UTC),
                OffsetDateTime.of(1969, 7, 20, 20, 17, 40, 0, ZoneOffset.ofHours(-4)),
                OffsetDateTime.of(2100, 12, 31, 23, 59, 59, 999999000, ZoneOffset.ofHours(-12))};
            v.i = ints[it % ints.length];
            v.b = longs[it % longs.length];
            v.s = strs[it % strs.length];
            v.n = new BigDecimal(nums[it % nums.length]);
            v.ts = tss[it % tss.length];
            v.tstz = tstzs[it % tstzs.length];
            v.bo = it % 2 == 0;
            if (it == 0) {
                v.by = new byte[258];
                for (int k = 0; k < 256; k++) v.by[k] = (byte) k;
                v.by[256] = 0;
                v.by[257] = (byte) 0xff;
            } else {
                v.by = ("bytes-" + it).getBytes(StandardCharsets.UTF_8);
                if (it == 3) v.by = new byte[0];
            }
            v.u = UUID.nameUUIDFromBytes(("uuid-" + it).getBytes(StandardCharsets.UTF_8));
            if (it == 7) {  // a row of NULLs (each bound with its type)
                v.b = null; v.s = null; v.n = null; v.ts = null; v.tstz = null; v.bo = null;
                v.by = null; v.u = null;
            }
            return v;
        }

        /** Binds the 10 values from parameter `p` on (the 10th is always a NULL text). */
        void bind(PreparedStatement ps, int p, int it) throws SQLException {
            ps.setInt(p, i);
            if (b == null) ps.setNull(p + 1, Types.BIGINT); else ps.setLong(p + 1, b);
            if (s == null) ps.setNull(p + 2, Types.VARCHAR); else ps.setString(p + 2, s);
            if (n == null) ps.setNull(p + 3, Types.NUMERIC); else ps.setBigDecimal(p + 3, n);
            if (ts == null) ps.setNull(p + 4, Types.TIMESTAMP);
            else if (it % 2 == 0) ps.setObject(p + 4, ts);
            else ps.setTimestamp(p + 4, Timestamp.valueOf(ts));
            if (tstz == null) ps.setNull(p + 5, Types.TIMESTAMP_WITH_TIMEZONE);
            else ps.setObject(p + 5, tstz);
            if (bo == null) ps.setNull(p + 6, Types.BOOLEAN); else ps.setBoolean(p + 6, bo);
            if (by == null) ps.setNull(p + 7, Types.BINARY); else ps.setBytes(p + 7, by);
            if (u == null) ps.setNull(p + 8, Types.OTHER); else ps.setObject(p + 8, u);
            ps.setNull(p + 9, Types.VARCHAR);
        }

        /** Reads the 10 columns from column `c` on with typed getters; the mismatches. */
        List<String> check(ResultSet rs, int c) throws SQLException {
            List<String> bad = new ArrayList<>();
            int gi = rs.getInt(c);
            if (gi != i) bad.add("int: got " + gi + " want " + i);
            long gb = rs.getLong(c + 1);
            if (b == null ? !rs.wasNull() : gb != b) bad.add("bigint: got " + gb + " want " + b);
            String gs = rs.getString(c + 2);
            if (!java.util.Objects.equals(gs, s)) bad.add("text: got " + gs + " want " + s);
            BigDecimal gn = rs.getBigDecimal(c + 3);
            if (!java.util.Objects.equals(gn, n)) bad.add("numeric: got " + gn + " want " + n);
            LocalDateTime gts = rs.getObject(c + 4, LocalDateTime.class);
            if (!java.util.Objects.equals(gts, ts)) bad.add("timestamp: got " + gts + " want " + ts);
            OffsetDateTime gtz = rs.getObject(c + 5, OffsetDateTime.class);
            if (tstz == null ? gtz != null : gtz == null || !gtz.isEqual(tstz))
                bad.add("timestamptz: got " + gtz + " want " + tstz);
            boolean gbo = rs.getBoolean(c + 6);
            if (bo == null ? !rs.wasNull() : gbo != bo) bad.add("boolean: got " + gbo + " want " + bo);
            byte[] gby = rs.getBytes(c + 7);
            if (!Arrays.equals(gby, by))
                bad.add("bytea: got " + (gby == null ? null : hex(gby)) + " want " + (by == null ? null : hex(by)));
            UUID gu = rs.getObject(c + 8, UUID.class);
            if (!java.util.Objects.equals(gu, u)) bad.add("uuid: got " + gu + " want " + u);
            String gnul = rs.getString(c + 9);
            if (gnul != null || !rs.wasNull()) bad.add("null: got " + gnul);
            return bad;
        }
    }

    static final String TYPE_COLS = "i, b, s, n, ts, tstz, bo, bin, u, nul";

    static void types() throws Exception {
        String t = table();
        int[] ten = tenants();
        int iters = 12;
        countWire();
        try (Connection c = connect("")) {
            ddl("CREATE TABLE " + t + " (tenant_id int NOT NULL, id int NOT NULL, i int, "
                    + "b bigint, s text, n numeric, ts timestamp, tstz timestamptz, bo boolean, "
                    + "bin bytea, u uuid, nul text, PRIMARY KEY (tenant_id, id))");
            // a) parameters echoed by a SELECT without tables
            resetWire();
            String q = "SELECT ?::int AS i, ?::bigint AS b, ?::text AS s, ?::numeric AS n, "
                     + "?::timestamp AS ts, ?::timestamptz AS tstz, ?::boolean AS bo, "
                     + "?::bytea AS bin, ?::uuid AS u, ?::text AS nul";
            try (PreparedStatement ps = c.prepareStatement(q)) {
                for (int it = 0; it < iters; it++) {
                    Vals v = Vals.of(it);
                    v.bind(ps, 1, it);
                    try (ResultSet rs = ps.executeQuery()) {
                        if (!rs.next()) { emit("step", "echo", "iter", it, "row", null); continue; }
                        List<String> bad = v.check(rs, 1);
                        emit("step", "echo", "iter", it, "row", row(rs, 10), "mismatches", bad,
                             "more_rows", rs.next());
                    } catch (SQLException e) {
                        emit("step", "echo", "iter", it, "error", err(e));
                    }
                }
            }
            emit("step", "echo_wire", "wire", wireCounts());
            // b) prepared INSERT into the distributed table, rows for three tenants (nodes)
            resetWire();
            String ins = "INSERT INTO " + t + " (tenant_id, id, " + TYPE_COLS
                       + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
            try (PreparedStatement ps = c.prepareStatement(ins)) {
                for (int it = 0; it < iters; it++) {
                    ps.setInt(1, ten[it % ten.length]);
                    ps.setInt(2, it);
                    Vals.of(it).bind(ps, 3, it);
                    try {
                        emit("step", "insert", "iter", it, "count", ps.executeUpdate());
                    } catch (SQLException e) {
                        emit("step", "insert", "iter", it, "error", err(e));
                    }
                }
            }
            emit("step", "insert_wire", "wire", wireCounts());
            // c) prepared point SELECT by tenant and id
            resetWire();
            String sel = "SELECT " + TYPE_COLS + " FROM " + t + " WHERE tenant_id = ? AND id = ?";
            try (PreparedStatement ps = c.prepareStatement(sel)) {
                for (int it = 0; it < iters; it++) {
                    ps.setInt(1, ten[it % ten.length]);
                    ps.setInt(2, it);
                    Vals v = Vals.of(it);
                    try (ResultSet rs = ps.executeQuery()) {
                        if (!rs.next()) { emit("step", "select", "iter", it, "row", null); continue; }
                        List<String> bad = v.check(rs, 1);
                        emit("step", "select", "iter", it, "row", row(rs, 10), "mismatches", bad,
                             "more_rows", rs.next());
                    } catch (SQLException e) {
                        emit("step", "select", "iter", it, "error", err(e));
                    }
                }
            }
            emit("step", "select_wire", "wire", wireCounts());
            // d) every row, over all nodes (plain Statement, text results)
            emit("step", "all_rows", "rows", queryRows(c, "SELECT tenant_id, id, " + TYPE_COLS
                                                          + " FROM " + t + " ORDER BY tenant_id, id"));
        }
    }

    // ------------------------------------------------------------------ 1b. prepared statements over several nodes

    static void preparedMultiNode() throws Exception {
        String t = table();
        int[] ten = tenants();
        countWire();
        try (Connection c = connect("")) {
            ddl("CREATE TABLE " + t + " (tenant_id int NOT NULL, id int NOT NULL, "
                    + "amount numeric(10,2), big bigint, at timestamptz, PRIMARY KEY (tenant_id, id))");
            StringBuilder sb = new StringBuilder("INSERT INTO " + t + " VALUES ");
            for (int k = 0; k < ten.length; k++) {
                for (int id = 1; id <= 4; id++) {
                    if (k + id > 1) sb.append(',');
                    sb.append(String.format("(%d, %d, %d.%02d, %d, '2024-01-%02d 10:00:00+00')",
                                            ten[k], id, id * 10 + k, id, (long) ten[k] * 1000000000L + id, id + k));
                }
            }
            emit("step", "load", "count", update(c, sb.toString()));
            String[][] queries = {
                {"concat", "SELECT tenant_id, id, big, at FROM " + t + " WHERE id <= ?"},
                {"order_by", "SELECT tenant_id, id, big, at FROM " + t + " WHERE id <= ? ORDER BY big"},
                {"group_by", "SELECT tenant_id, count(*), sum(big), max(at), sum(amount) FROM " + t
                             + " WHERE id <= ? GROUP BY tenant_id ORDER BY tenant_id"},
                {"aggregate", "SELECT count(*), sum(id), min(big), max(big) FROM " + t + " WHERE id <= ?"},
                {"group_by_avg", "SELECT tenant_id, count(*), avg(amount), avg(id), min(at), sum(amount), count(*)::text AS n FROM " + t
                                 + " WHERE id <= ? GROUP BY tenant_id HAVING count(*) > 1 ORDER BY tenant_id DESC"},
                // a subquery over every node, which Mosaic runs first: its rows are read in text
                // and the columns pgjdbc asks in binary converted
                {"subquery", "SELECT tenant_id, id, big, at, amount FROM " + t + " WHERE big IN (SELECT max(big) FROM "
                             + t + " WHERE id <= ? GROUP BY tenant_id) ORDER BY tenant_id"},
            };
            // pgjdbc's defaults (binary results once a statement is named), then text results only
            String[][] modes = {{"default", ""}, {"text", "binaryTransfer=false"}};
            for (String[] mode : modes) {
                try (Connection mc = connect(mode[1])) {
                    for (String[] q : queries) {
                        resetWire();
                        try (PreparedStatement ps = mc.prepareStatement(q[1])) {
                            for (int it = 0; it < 10; it++) {
                                ps.setInt(1, 4);
                                try (ResultSet rs = ps.executeQuery()) {
                                    // the format each column came in (pgjdbc asks binary once the
                                    // statement is named and described)
                                    org.postgresql.PGResultSetMetaData md =
                                        rs.getMetaData().unwrap(org.postgresql.PGResultSetMetaData.class);
                                    List<Integer> formats = new ArrayList<>();
                                    for (int col = 1; col <= rs.getMetaData().getColumnCount(); col++) {
                                        formats.add(md.getFormat(col));
                                    }
                                    List<List<Object>> rows = rows(rs);
                                    if (q[0].equals("concat")) rows.sort((x, y) -> x.toString().compareTo(y.toString()));
                                    emit("step", mode[0] + "/" + q[0], "iter", it, "rows", rows, "formats", formats);
                                } catch (SQLException e) {
                                    emit("step", mode[0] + "/" + q[0], "iter", it, "error", err(e));
                                }
                            }
                        }
                        emit("step", mode[0] + "/" + q[0] + "/wire", "wire", wireCounts());
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ 2. batch

    static int batchRow(PreparedStatement ps, int tenant, int id) throws SQLException {
        ps.setInt(1, tenant);
        ps.setInt(2, id);
        ps.setBigDecimal(3, BigDecimal.valueOf(id * 7L + 3, 2));
        ps.setString(4, "note " + id);
        ps.addBatch();
        return id;
    }

    static void runBatch(String name, String extra, boolean autocommit, int base, int rows,
                         int tenantsN, boolean duplicateAtEnd) throws SQLException {
        String t = table();
        try (Connection c = connect(extra)) {
            c.setAutoCommit(autocommit);
            try (PreparedStatement ps = c.prepareStatement(
                    "INSERT INTO " + t + " (tenant_id, id, amount, note) VALUES (?, ?, ?, ?)")) {
                for (int i = 0; i < rows; i++) batchRow(ps, i % tenantsN + 1, base + i);
                if (duplicateAtEnd) batchRow(ps, 1, 0);  // (1, 0) exists: the seed batch made it
                try {
                    int[] counts = ps.executeBatch();
                    Object commit = "autocommit";
                    if (!autocommit) {
                        try { c.commit(); commit = "ok"; } catch (SQLException e) { commit = err(e); }
                    }
                    emit("step", name, "counts", counts, "commit", commit);
                } catch (BatchUpdateException e) {
                    Object rb = "autocommit";
                    if (!autocommit) {
                        try { c.rollback(); rb = "ok"; } catch (SQLException e2) { rb = err(e2); }
                    }
                    SQLException next = e.getNextException();
                    emit("step", name, "error", err(e), "next_state", next == null ? null : next.getSQLState(),
                         "counts", e.getUpdateCounts(), "rollback", rb);
                } catch (SQLException e) {
                    emit("step", name, "error", err(e));
                }
            }
            // the connection is usable afterwards
            c.setAutoCommit(true);
            emit("step", name + "_after", "rows", queryRows(c, "SELECT 1"));
        }
    }

    static void batch() throws Exception {
        String t = table();
        int n = Integer.parseInt(opts.getOrDefault("tenant_count", "30"));
        int rows = Integer.parseInt(opts.getOrDefault("rows", "150"));
        ddl("CREATE TABLE " + t + " (tenant_id int NOT NULL, id int NOT NULL, "
            + "amount numeric(12,2), note text, PRIMARY KEY (tenant_id, id))");
        if (opts.getOrDefault("phase", "ok").equals("ok")) {
            runBatch("plain_autocommit", "", true, 0, rows, n, false);
            runBatch("rewrite_tx", "reWriteBatchedInserts=true", false, 1000, rows, n, false);
            runBatch("plain_tx", "", false, 2000, rows, n, false);
            runBatch("rewrite_autocommit", "reWriteBatchedInserts=true", true, 3000, rows, n, false);
        } else {
            // batches whose last row violates the primary key: nothing of them may remain
            // (pgjdbc sends a batch with one Sync at the end: in autocommit mode it is one
            // implicit transaction on PostgreSQL)
            runBatch("seed", "", true, 0, n, n, false);  // (1, 0) .. (n, n - 1)
            runBatch("plain_autocommit_dup", "", true, 4000, 40, n, true);
            runBatch("rewrite_autocommit_dup", "reWriteBatchedInserts=true", true, 5000, 40, n, true);
            runBatch("plain_tx_dup", "", false, 6000, 40, n, true);
            runBatch("rewrite_tx_dup", "reWriteBatchedInserts=true", false, 7000, 40, n, true);
        }
        try (Connection c = connect("")) {
            emit("step", "per_tenant", "rows", queryRows(c,
                 "SELECT tenant_id, count(*), sum(amount), sum(id), min(id), max(id) FROM " + t
                 + " GROUP BY tenant_id ORDER BY tenant_id"));
            emit("step", "totals", "rows", queryRows(c, "SELECT count(*), sum(amount), sum(id) FROM " + t));
        }
    }

    // ------------------------------------------------------------------ 2b. update counts

    static Object prepUpdate(Connection c, String sql, int... params) {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < params.length; i++) ps.setInt(i + 1, params[i]);
            return ps.executeUpdate();
        } catch (SQLException e) {
            return err(e);
        }
    }

    static Object prepRows(Connection c, String sql, int... params) {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < params.length; i++) ps.setInt(i + 1, params[i]);
            try (ResultSet rs = ps.executeQuery()) {
                List<List<Object>> rows = rows(rs);
                rows.sort((x, y) -> x.toString().compareTo(y.toString()));
                return rows;
            }
        } catch (SQLException e) {
            return err(e);
        }
    }

    /** Statement.executeUpdate: its count, or the error. */
    static Object executeUpdate(Connection c, String sql) {
        try (Statement st = c.createStatement()) {
            return st.executeUpdate(sql);
        } catch (SQLException e) {
            return err(e);
        }
    }

    /** executeUpdate's counts (what ORMs check for optimistic locking) of writes on one node and
     *  on several, over Statement and PreparedStatement. */
    static final String SHOW_SETTINGS = "SELECT current_setting('search_path'), current_setting('statement_timeout'), "
        + "current_setting('work_mem')";

    /** Session settings as JDBC changes them: Statement.execute("SET ..."), Connection.setSchema
     *  (both over the extended protocol), a SET in a failing multi-statement execute; read back on
     *  the same connection (simple and prepared) and on another one in between. */
    static void settings() throws Exception {
        try (Connection a = connect(""); Connection b = connect("")) {
            emit("step", "set", "result", update(a, "SET search_path TO " + table() + "_nowhere, public"),
                 "timeout", update(a, "SET statement_timeout = '4321ms'"));
            emit("step", "other_connection", "rows", queryRows(b, SHOW_SETTINGS));
            emit("step", "same_connection", "rows", queryRows(a, SHOW_SETTINGS));
            emit("step", "same_connection_prepared", "rows", prepRows(a, SHOW_SETTINGS + " WHERE ? = 1", 1));
            a.setSchema(table() + "_schema");
            emit("step", "set_schema", "rows", queryRows(a, "SELECT current_setting('search_path')"),
                 "other", queryRows(b, "SELECT current_setting('search_path')"));
            emit("step", "failing_batch", "result", update(a, "SET work_mem = '9MB'; SELECT 1/0"),
                 "rows", queryRows(a, SHOW_SETTINGS));
            emit("step", "batch", "result", update(a, "SET work_mem = '5MB'; SELECT 1"),
                 "rows", queryRows(a, SHOW_SETTINGS));
            emit("step", "reset_all", "result", update(a, "RESET ALL"), "rows", queryRows(a, SHOW_SETTINGS),
                 "other", queryRows(b, SHOW_SETTINGS));
            // Inside transactions (autocommit off): kept after COMMIT, undone by ROLLBACK.
            a.setAutoCommit(false);
            Object inTx = update(a, "SET statement_timeout = '3333ms'");
            Object rolledBack = update(a, "SET work_mem = '6MB'");
            a.commit();
            emit("step", "committed", "result", inTx, "rows", queryRows(a, SHOW_SETTINGS),
                 "other", queryRows(b, SHOW_SETTINGS));
            a.commit();
            update(a, "SET work_mem = '8MB'");
            a.rollback();
            emit("step", "rolled_back", "result", rolledBack, "rows", queryRows(a, SHOW_SETTINGS));
            a.commit();
            update(a, "SET search_path TO " + table() + "_kept");
            java.sql.Savepoint sp = a.setSavepoint("s");
            update(a, "SET statement_timeout = '2222ms'");
            a.rollback(sp);
            a.commit();
            emit("step", "savepoint", "rows", queryRows(a, SHOW_SETTINGS));
            a.commit();
            a.setAutoCommit(true);
            emit("step", "after_transactions", "rows", queryRows(a, SHOW_SETTINGS));
            // A SET inside a transaction holds on every node the transaction reads (the search
            // path is the _kept schema's now).
            String t = "public." + table();
            int[] ten = tenants();
            ddl("CREATE TABLE " + t + " (tenant_id int NOT NULL, id int NOT NULL, PRIMARY KEY (tenant_id, id))");
            update(a, String.format("INSERT INTO %s VALUES (%d, 1), (%d, 1), (%d, 1)", t, ten[0], ten[1], ten[2]));
            a.setAutoCommit(false);
            update(a, "SET work_mem = '2MB'");
            emit("step", "every_node_in_transaction",
                 "rows", queryRows(a, "SELECT tenant_id, current_setting('work_mem') FROM " + t + " ORDER BY tenant_id"),
                 "last_tenant", prepRows(a, "SELECT current_setting('work_mem') FROM " + t + " WHERE tenant_id = ?", ten[2]));
            a.rollback();
            a.setAutoCommit(true);
        }
    }

    /** A temporary table in a transaction (transaction pooling takes ON COMMIT DROP ones): rows
     *  staged with executeBatch, read by a PreparedStatement past prepareThreshold (a named
     *  statement on the server), moved into the distributed table with INSERT ... SELECT with a
     *  parameter, gone after COMMIT. The moved rows are of the tenants of nodes 2 and 3. */
    static void tempTables() throws Exception {
        String t = table();
        String stage = t + "_stage";
        int[] ten = tenants();
        ddl("CREATE TABLE " + t + " (tenant_id int NOT NULL, id int NOT NULL, v text, PRIMARY KEY (tenant_id, id))");
        try (Connection a = connect("")) {
            a.setAutoCommit(false);
            emit("step", "create", "result",
                 update(a, "CREATE TEMP TABLE " + stage + " (tenant_id int, id int, v text) ON COMMIT DROP"));
            Object counts;
            try (PreparedStatement ps = a.prepareStatement("INSERT INTO " + stage + " VALUES (?, ?, ?)")) {
                for (int k = 1; k <= 2; k++) {
                    for (int i = 1; i <= 6; i++) {
                        ps.setInt(1, ten[k]);
                        ps.setInt(2, i);
                        ps.setString(3, "v'" + i);
                        ps.addBatch();
                    }
                }
                counts = java.util.Arrays.toString(ps.executeBatch());
            } catch (SQLException e) {
                counts = err(e);
            }
            emit("step", "staged", "counts", counts);
            List<Object> reads = new ArrayList<>();
            try (PreparedStatement ps = a.prepareStatement("SELECT count(*), min(v) FROM " + stage + " WHERE tenant_id = ?")) {
                for (int i = 0; i < 6; i++) {
                    ps.setInt(1, ten[1 + i % 2]);
                    try (ResultSet rs = ps.executeQuery()) {
                        reads.add(rows(rs));
                    }
                }
            } catch (SQLException e) {
                reads.add(err(e));
            }
            emit("step", "reads", "rows", reads);
            emit("step", "move", "result",
                 prepUpdate(a, "INSERT INTO " + t + " SELECT tenant_id, id, v FROM " + stage + " WHERE id > ?", 2));
            a.commit();
            a.setAutoCommit(true);
            emit("step", "dropped_at_commit", "rows", queryRows(a, "SELECT count(*) FROM " + stage));
            emit("step", "moved", "rows", queryRows(a, "SELECT tenant_id, id, v FROM " + t + " ORDER BY tenant_id, id"));
        }
    }

    static void dmlCounts() throws Exception {
        String t = table();
        int[] ten = tenants();
        int a = ten[0], b = ten[1], c3 = ten[2];
        ddl("CREATE TABLE " + t + " (tenant_id int NOT NULL, id int NOT NULL, v int, PRIMARY KEY (tenant_id, id))");
        try (Connection c = connect("")) {
            String all3 = String.format("(%d, 1, 0), (%d, 1, 0), (%d, 1, 0)", a, b, c3);
            emit("step", "insert_multi_node", "count", executeUpdate(c, "INSERT INTO " + t + " VALUES " + all3));
            emit("step", "insert_one_node", "count", executeUpdate(c, "INSERT INTO " + t + " VALUES (" + a + ", 2, 0), ("
                 + a + ", 3, 0)"));
            emit("step", "insert_multi_node_prepared", "count", prepUpdate(c, "INSERT INTO " + t
                 + " VALUES (?, 4, 0), (?, 4, 0), (?, 4, 0)", a, b, c3));
            emit("step", "update_one_node", "count", executeUpdate(c, "UPDATE " + t + " SET v = v + 1 WHERE tenant_id = " + a));
            emit("step", "update_multi_node", "count", executeUpdate(c, "UPDATE " + t + " SET v = v + 1 WHERE id = 1"));
            emit("step", "update_all", "count", executeUpdate(c, "UPDATE " + t + " SET v = v + 1"));
            emit("step", "update_all_execute", "count", update(c, "UPDATE " + t + " SET v = v + 1"));
            List<Object> repeated = new ArrayList<>();
            for (int it = 0; it < 7; it++) {  // named server-side statement from the 5th run
                repeated.add(prepUpdate(c, "UPDATE " + t + " SET v = v + 1 WHERE id = ?", 1 + it % 2 * 3));
            }
            emit("step", "update_multi_node_prepared_repeated", "counts", repeated);
            emit("step", "update_returning_multi_node", "rows", prepRows(c, "UPDATE " + t
                 + " SET v = v + 1 WHERE id = ? RETURNING tenant_id, id", 4));
            emit("step", "insert_returning_multi_node", "rows", prepRows(c, "INSERT INTO " + t
                 + " VALUES (?, 5, 0), (?, 5, 0) RETURNING tenant_id, id", b, c3));
            c.setAutoCommit(false);
            emit("step", "update_multi_node_in_tx", "count", executeUpdate(c, "UPDATE " + t + " SET v = v + 1 WHERE id = 4"),
                 "commit", commit(c));
            c.setAutoCommit(true);
            emit("step", "delete_multi_node", "count", executeUpdate(c, "DELETE FROM " + t + " WHERE id = 5"));
            emit("step", "delete_one_node", "count", prepUpdate(c, "DELETE FROM " + t + " WHERE tenant_id = ? AND id > ?", a, 1));
            emit("step", "delete_nothing", "count", executeUpdate(c, "DELETE FROM " + t + " WHERE id = 99"));
            emit("step", "final", "rows", queryRows(c, "SELECT tenant_id, id, v FROM " + t + " ORDER BY tenant_id, id"));
        }
    }

    // ------------------------------------------------------------------ 3. transactions

    static Object ins(Connection c, int tenant, int id, String v) {
        try (PreparedStatement ps = c.prepareStatement(
                "INSERT INTO " + table() + " (tenant_id, id, v) VALUES (?, ?, ?)")) {
            ps.setInt(1, tenant);
            ps.setInt(2, id);
            ps.setString(3, v);
            return ps.executeUpdate();
        } catch (SQLException e) {
            return err(e);
        }
    }

    static Object countRows(Connection c) {
        return queryRows(c, "SELECT tenant_id, count(*) FROM " + table() + " GROUP BY tenant_id ORDER BY tenant_id");
    }

    static Object commit(Connection c) {
        try { c.commit(); return "ok"; } catch (SQLException e) { return err(e); }
    }

    static Object rollback(Connection c) {
        try { c.rollback(); return "ok"; } catch (SQLException e) { return err(e); }
    }

    static void tx() throws Exception {
        String t = table();
        int[] ten = tenants();
        int a = ten[0], b = ten[1], cc = ten[2];
        try (Connection c = connect("")) {
            ddl("CREATE TABLE " + t + " (tenant_id int NOT NULL, id int NOT NULL, v text, "
                    + "PRIMARY KEY (tenant_id, id))");
            c.setAutoCommit(false);
            // commit and rollback on one node
            emit("step", "one_node_commit", "insert", ins(c, a, 1, "committed"), "commit", commit(c));
            emit("step", "one_node_rollback", "insert", ins(c, a, 2, "rolled back"),
                 "inside", countRows(c), "rollback", rollback(c));
            // one transaction writing on three nodes: two-phase commit
            emit("step", "three_nodes_commit", "a", ins(c, a, 3, "2pc"), "b", ins(c, b, 3, "2pc"),
                 "c", ins(c, cc, 3, "2pc"), "inside", countRows(c), "commit", commit(c));
            emit("step", "three_nodes_rollback", "a", ins(c, a, 4, "x"), "b", ins(c, b, 4, "x"),
                 "c", ins(c, cc, 4, "x"), "rollback", rollback(c));
            // savepoints: unnamed and named, rollback to and release
            List<Object> sp = new ArrayList<>();
            sp.add(ins(c, a, 5, "before sp1"));
            Savepoint sp1 = c.setSavepoint();
            sp.add(ins(c, b, 5, "after sp1, rolled back"));
            sp.add(ins(c, cc, 5, "after sp1, rolled back"));
            sp.add(countRows(c));
            c.rollback(sp1);
            sp.add(countRows(c));
            sp.add(ins(c, cc, 6, "after rollback to sp1"));
            Savepoint sp2 = c.setSavepoint("named_sp");
            sp.add(ins(c, b, 6, "after named_sp"));
            c.releaseSavepoint(sp2);
            Savepoint sp3 = c.setSavepoint("sp3");
            sp.add(ins(c, a, 7, "after sp3"));
            sp.add(queryRows(c, "SELECT 1/0"));  // aborts the block...
            sp.add(ins(c, a, 8, "while aborted"));
            c.rollback(sp3);                      // ...which ROLLBACK TO makes usable again
            sp.add(ins(c, b, 7, "after rollback to sp3"));
            emit("step", "savepoints", "results", sp, "commit", commit(c));
            // an error without autosave: the block is aborted until rollback
            emit("step", "error_aborts", "insert", ins(c, a, 9, "x"), "error", queryRows(c, "SELECT 1/0"),
                 "next", ins(c, b, 9, "x"), "rollback", rollback(c));
        }
        // autosave=always: pgjdbc puts a savepoint before each statement and rolls back to it
        // after an error, so the transaction goes on
        try (Connection c = connect("autosave=always")) {
            c.setAutoCommit(false);
            List<Object> r = new ArrayList<>();
            r.add(ins(c, a, 10, "autosave a"));
            r.add(ins(c, b, 10, "autosave b"));
            r.add(ins(c, a, 10, "duplicate"));   // 23505
            r.add(queryRows(c, "SELECT 1/0"));   // 22012
            r.add(ins(c, cc, 10, "autosave c"));
            r.add(queryRows(c, "SELECT count(*) FROM " + t + " WHERE id = 10"));
            emit("step", "autosave_always", "results", r, "commit", commit(c));
        }
        try (Connection c = connect("")) {
            emit("step", "final", "rows", queryRows(c, "SELECT tenant_id, id, v FROM " + t + " ORDER BY tenant_id, id"));
        }
    }

    // ------------------------------------------------------------------ 4. fetch size

    static Map<String, Object> fetched(String name, ResultSet rs, int fetchSize) throws SQLException {
        List<String> out = new ArrayList<>();
        while (rs.next()) out.add(rs.getInt(1) + ":" + rs.getInt(2));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", name);
        m.put("fetch_size", fetchSize);
        m.put("count", out.size());
        m.put("rows", out);
        return m;
    }

    static void fetchQuery(Connection c, String name, String sql, Integer param, int fetchSize) {
        resetWire();
        Map<String, Object> m;
        try {
            if (param == null) {
                try (Statement st = c.createStatement()) {
                    st.setFetchSize(fetchSize);
                    try (ResultSet rs = st.executeQuery(sql)) { m = fetched(name, rs, fetchSize); }
                }
            } else {
                try (PreparedStatement ps = c.prepareStatement(sql)) {
                    ps.setFetchSize(fetchSize);
                    ps.setInt(1, param);
                    try (ResultSet rs = ps.executeQuery()) { m = fetched(name, rs, fetchSize); }
                }
            }
        } catch (SQLException e) {
            m = new LinkedHashMap<>();
            m.put("step", name);
            m.put("error", err(e));
        }
        m.put("wire", wireCounts());
        emit(m.entrySet().stream().flatMap(e -> java.util.stream.Stream.of(e.getKey(), e.getValue())).toArray());
    }

    static void fetch() throws Exception {
        String t = table();
        int[] ten = tenants();
        int per = Integer.parseInt(opts.getOrDefault("rows", "200"));
        countWire();
        try (Connection c = connect("")) {
            ddl("CREATE TABLE " + t + " (tenant_id int NOT NULL, id int NOT NULL, payload text, "
                    + "PRIMARY KEY (tenant_id, id))");
            for (int tn : ten) {
                StringBuilder sb = new StringBuilder("INSERT INTO " + t + " VALUES ");
                for (int i = 1; i <= per; i++) {
                    if (i > 1) sb.append(',');
                    // ids interleave over the tenants (each below 100): ORDER BY id merges
                    // all nodes' rows
                    sb.append(String.format("(%d, %d, repeat('x', %d))", tn, i * 100 + tn, i % 37));
                }
                exec(c, sb.toString());
            }
            c.setAutoCommit(false);
            int a = ten[0];
            fetchQuery(c, "one_node_ordered", "SELECT tenant_id, id FROM " + t + " WHERE tenant_id = " + a
                       + " ORDER BY id", null, 7);
            fetchQuery(c, "one_node_prepared", "SELECT tenant_id, id FROM " + t + " WHERE tenant_id = ? "
                       + "ORDER BY id DESC", a, 13);
            fetchQuery(c, "multi_node_ordered", "SELECT tenant_id, id FROM " + t + " ORDER BY id, tenant_id",
                       null, 50);
            fetchQuery(c, "multi_node_prepared_ordered", "SELECT tenant_id, id FROM " + t
                       + " WHERE id > ? ORDER BY id DESC, tenant_id", 0, 9);
            fetchQuery(c, "multi_node_unordered", "SELECT tenant_id, id FROM " + t, null, 10);
            fetchQuery(c, "multi_node_limit", "SELECT tenant_id, id FROM " + t + " ORDER BY id LIMIT 25 OFFSET 5",
                       null, 4);
            fetchQuery(c, "series", "SELECT g, g * 2 FROM generate_series(1, 5000) g", null, 1000);
            emit("step", "commit", "result", commit(c));
            // the connection is fine afterwards
            c.setAutoCommit(true);
            emit("step", "after", "rows", queryRows(c, "SELECT count(*) FROM " + t));
        }
    }

    // ------------------------------------------------------------------ 5. query timeout

    static void timeout() throws Exception {
        int sleepS = Integer.parseInt(opts.getOrDefault("sleep", "5"));
        AtomicBoolean stop = new AtomicBoolean(false);
        AtomicInteger okCount = new AtomicInteger();
        List<String> bgErrors = java.util.Collections.synchronizedList(new ArrayList<>());
        int bgThreads = Integer.parseInt(opts.getOrDefault("background", "2"));
        List<Thread> threads = new ArrayList<>();
        CyclicBarrier started = new CyclicBarrier(bgThreads + 1);
        for (int k = 0; k < bgThreads; k++) {
            final int id = k;
            Thread th = new Thread(() -> {
                try (Connection c = connect("")) {
                    PreparedStatement ps = c.prepareStatement("SELECT ?::int + 1");
                    Statement st = c.createStatement();
                    started.await();
                    int i = 0;
                    while (!stop.get()) {
                        i++;
                        try {
                            int want, got;
                            if ((i + id) % 2 == 0) {
                                ps.setInt(1, i);
                                try (ResultSet rs = ps.executeQuery()) { rs.next(); got = rs.getInt(1); }
                                want = i + 1;
                            } else {
                                try (ResultSet rs = st.executeQuery("SELECT " + i + " AS v")) {
                                    rs.next(); got = rs.getInt(1);
                                }
                                want = i;
                            }
                            if (got != want) bgErrors.add("thread " + id + ": got " + got + " want " + want);
                            else okCount.incrementAndGet();
                        } catch (SQLException e) {
                            bgErrors.add("thread " + id + " query " + i + ": " + e.getSQLState() + " " + e.getMessage());
                        }
                    }
                } catch (Exception e) {
                    bgErrors.add("thread " + id + ": " + e);
                }
            });
            th.start();
            threads.add(th);
        }
        started.await();
        try (Connection c = connect("")) {
            // autocommit: a statement of its own
            for (int round = 0; round < 2; round++) {
                long t0 = System.nanoTime();
                Object result;
                try (Statement st = c.createStatement()) {
                    st.setQueryTimeout(1);
                    try (ResultSet rs = st.executeQuery("SELECT pg_sleep(" + sleepS + ")")) {
                        result = "completed";
                    }
                } catch (SQLException e) {
                    result = err(e);
                }
                long ms = (System.nanoTime() - t0) / 1_000_000;
                emit("step", "autocommit_timeout", "round", round, "result", result, "elapsed_ms", ms,
                     "after", queryRows(c, "SELECT 42"));
            }
            // inside a transaction: the block is aborted, rollback makes the connection usable
            c.setAutoCommit(false);
            long t0 = System.nanoTime();
            Object before = queryRows(c, "SELECT 1");
            Object result;
            try (PreparedStatement ps = c.prepareStatement("SELECT pg_sleep(?)")) {
                ps.setQueryTimeout(1);
                ps.setInt(1, sleepS);
                try (ResultSet rs = ps.executeQuery()) { result = "completed"; }
            } catch (SQLException e) {
                result = err(e);
            }
            long ms = (System.nanoTime() - t0) / 1_000_000;
            Object aborted = queryRows(c, "SELECT 2");
            Object rb = rollback(c);
            emit("step", "tx_timeout", "before", before, "result", result, "elapsed_ms", ms,
                 "next_in_block", aborted, "rollback", rb, "after", queryRows(c, "SELECT 3"),
                 "commit", commit(c));
            c.setAutoCommit(true);
            // no late cancel hits this connection's next statements
            List<Object> later = new ArrayList<>();
            long end = System.nanoTime() + 1_500_000_000L;
            int n = 0;
            while (System.nanoTime() < end) {
                Object r = queryRows(c, "SELECT pg_sleep(0.05), " + n);
                if (!(r instanceof List)) later.add(r);
                n++;
            }
            emit("step", "after_timeouts", "statements", n > 0, "errors", later);
        }
        stop.set(true);
        for (Thread th : threads) th.join(30_000);
        emit("step", "background", "threads", bgThreads, "ok_positive", okCount.get() > 0, "errors", bgErrors);
    }

    // ------------------------------------------------------------------ 6. metadata

    static List<Object> mdRows(ResultSet rs, String... cols) throws SQLException {
        List<Object> out = new ArrayList<>();
        while (rs.next()) {
            Map<String, Object> m = new LinkedHashMap<>();
            for (String col : cols) m.put(col, render(rs.getObject(col)));
            out.add(m);
        }
        rs.close();
        return out;
    }

    static List<Object> rsmd(ResultSetMetaData md) throws SQLException {
        List<Object> out = new ArrayList<>();
        for (int i = 1; i <= md.getColumnCount(); i++) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", md.getColumnName(i));
            m.put("label", md.getColumnLabel(i));
            m.put("type", md.getColumnType(i));
            m.put("type_name", md.getColumnTypeName(i));
            m.put("class", md.getColumnClassName(i));
            m.put("precision", md.getPrecision(i));
            m.put("scale", md.getScale(i));
            m.put("display_size", md.getColumnDisplaySize(i));
            m.put("signed", md.isSigned(i));
            m.put("nullable", md.isNullable(i));
            m.put("auto_increment", md.isAutoIncrement(i));
            m.put("table", md.getTableName(i));
            m.put("schema", md.getSchemaName(i));
            m.put("base_column", ((org.postgresql.PGResultSetMetaData) md).getBaseColumnName(i));
            m.put("base_table", ((org.postgresql.PGResultSetMetaData) md).getBaseTableName(i));
            out.add(m);
        }
        return out;
    }

    static void mdQuery(Connection c, String name, String sql) {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            emit("step", name, "columns", rsmd(rs.getMetaData()), "rows", rows(rs));
        } catch (SQLException e) {
            emit("step", name, "error", err(e));
        }
    }

    static void metadata() throws Exception {
        String t = table();
        int[] ten = tenants();
        try (Connection c = connect("")) {
            ddl("CREATE TABLE " + t + " (tenant_id int NOT NULL, id bigserial, "
                    + "name varchar(40) NOT NULL, amount numeric(10,2), note text, "
                    + "created timestamptz DEFAULT '2024-01-01 00:00:00+00', PRIMARY KEY (tenant_id, id))");
            ddl("COMMENT ON TABLE " + t + " IS 'jdbc metadata table'");
            ddl("COMMENT ON COLUMN " + t + ".name IS 'the name'");
            for (int k = 0; k < ten.length; k++) {
                exec(c, "INSERT INTO " + t + " (tenant_id, id, name, amount) VALUES (" + ten[k] + ", "
                        + (k + 1) + ", 'n" + k + "', " + (k + 1) + ".25)");
            }
            if (opts.getOrDefault("part", "database").equals("resultset")) {
                for (int k = 0; k < ten.length; k++) {  // the tenants' nodes: 1, 2 and 3
                    mdQuery(c, "rsmd_one_node_" + (k + 1), "SELECT tenant_id, id, name, amount, created FROM "
                            + t + " WHERE tenant_id = " + ten[k]);
                }
                mdQuery(c, "rsmd_multi_node", "SELECT tenant_id, id, name, amount, note, created FROM " + t
                        + " ORDER BY tenant_id");
                mdQuery(c, "rsmd_multi_node_aggregate", "SELECT tenant_id, count(*) AS n, sum(amount) AS total, "
                        + "avg(amount) AS mean, max(created) AS last FROM " + t
                        + " GROUP BY tenant_id ORDER BY tenant_id");
                return;
            }
            DatabaseMetaData md = c.getMetaData();
            emit("step", "product", "name", md.getDatabaseProductName(),
                 "major", md.getDatabaseMajorVersion());
            try {
                emit("step", "get_tables", "rows", mdRows(md.getTables(null, "public", t, new String[] {"TABLE"}),
                     "TABLE_SCHEM", "TABLE_NAME", "TABLE_TYPE", "REMARKS"));
            } catch (SQLException e) {
                emit("step", "get_tables", "error", err(e));
            }
            try {
                emit("step", "get_columns", "rows", mdRows(md.getColumns(null, "public", t, "%"),
                     "TABLE_SCHEM", "TABLE_NAME", "COLUMN_NAME", "DATA_TYPE", "TYPE_NAME", "COLUMN_SIZE",
                     "DECIMAL_DIGITS", "NULLABLE", "REMARKS", "COLUMN_DEF", "ORDINAL_POSITION",
                     "IS_NULLABLE", "IS_AUTOINCREMENT"));
            } catch (SQLException e) {
                emit("step", "get_columns", "error", err(e));
            }
            try {
                emit("step", "get_primary_keys", "rows", mdRows(md.getPrimaryKeys(null, "public", t),
                     "TABLE_NAME", "COLUMN_NAME", "KEY_SEQ", "PK_NAME"));
            } catch (SQLException e) {
                emit("step", "get_primary_keys", "error", err(e));
            }
        }
    }

    // ------------------------------------------------------------------ DDL over the extended protocol

    /** DDL as JDBC sends it (Parse/Bind/Execute, as schema migration tools run it), then the
     *  new table used at once: Mosaic must know it as it knows tables created over the simple
     *  protocol. */
    static void ddlScenario() throws Exception {
        String t = table();
        int[] ten = tenants();
        try (Connection c = connect("")) {
            emit("step", "create", "result", update(c, "CREATE TABLE " + t + " (tenant_id int NOT NULL, "
                 + "id bigserial, v text, PRIMARY KEY (tenant_id, id))"));
            List<Object> ids = new ArrayList<>();
            for (int round = 0; round < 2; round++) {
                for (int tn : ten) {
                    try (PreparedStatement ps = c.prepareStatement(
                            "INSERT INTO " + t + " (tenant_id, v) VALUES (?, ?) RETURNING id")) {
                        ps.setInt(1, tn);
                        ps.setString(2, "r" + round);
                        try (ResultSet rs = ps.executeQuery()) {
                            rs.next();
                            ids.add(rs.getLong(1));
                        }
                    } catch (SQLException e) {
                        ids.add(err(e));
                    }
                }
            }
            emit("step", "insert_default_ids", "ids", ids);
            emit("step", "count", "rows", queryRows(c, "SELECT tenant_id, count(*) FROM " + t
                                                      + " GROUP BY tenant_id ORDER BY tenant_id"));
            emit("step", "alter", "result", update(c, "ALTER TABLE " + t + " ADD COLUMN w int DEFAULT 5"));
            emit("step", "after_alter", "rows", queryRows(c, "SELECT tenant_id, sum(w) FROM " + t
                                                            + " GROUP BY tenant_id ORDER BY tenant_id"));
            emit("step", "index", "result", update(c, "CREATE INDEX " + t + "_v ON " + t + " (v)"));
            // DDL inside a transaction block, used in the same block
            c.setAutoCommit(false);
            List<Object> r = new ArrayList<>();
            r.add(update(c, "CREATE TABLE " + t + "_tx (tenant_id int NOT NULL, id int NOT NULL, "
                         + "PRIMARY KEY (tenant_id, id))"));
            for (int tn : ten) r.add(update(c, "INSERT INTO " + t + "_tx VALUES (" + tn + ", 1)"));
            r.add(queryRows(c, "SELECT count(*) FROM " + t + "_tx"));
            emit("step", "in_transaction", "results", r, "commit", commit(c));
            c.setAutoCommit(true);
            emit("step", "tx_table_after", "rows", queryRows(c, "SELECT tenant_id, id FROM " + t
                                                               + "_tx ORDER BY tenant_id"));
            emit("step", "drop", "result", update(c, "DROP TABLE " + t + "_tx"));
            emit("step", "after_drop", "rows", queryRows(c, "SELECT count(*) FROM " + t + "_tx"));
        }
    }

    // ------------------------------------------------------------------ 7. pool-like threads

    static void pool() throws Exception {
        String t = table();
        int threads = Integer.parseInt(opts.getOrDefault("threads", "8"));
        int iters = Integer.parseInt(opts.getOrDefault("iterations", "200"));
        int keys = 10;
        try (Connection c = connect("")) {
            ddl("CREATE TABLE " + t + " (tenant_id int NOT NULL, k int NOT NULL, payload text, "
                    + "PRIMARY KEY (tenant_id, k))");
            StringBuilder sb = new StringBuilder("INSERT INTO " + t + " VALUES ");
            for (int th = 0; th < threads; th++) {
                for (int j = 0; j < keys; j++) {
                    if (th + j > 0) sb.append(',');
                    sb.append(String.format("(%d, %d, 'thread %d key %d')", 100 + th, th * 1000 + j, th, j));
                }
            }
            exec(c, sb.toString());
        }
        CyclicBarrier start = new CyclicBarrier(threads);
        List<Map<String, Object>> results = java.util.Collections.synchronizedList(new ArrayList<>());
        List<Thread> ts = new ArrayList<>();
        for (int th = 0; th < threads; th++) {
            final int me = th;
            Thread thread = new Thread(() -> {
                int ok = 0;
                List<String> bad = new ArrayList<>();
                try (Connection c = connect("ApplicationName=pool-" + me)) {
                    PreparedStatement ps = c.prepareStatement(
                        "SELECT tenant_id, k, payload FROM " + t + " WHERE tenant_id = ? AND k = ?");
                    start.await();
                    for (int i = 0; i < iters; i++) {
                        int j = i % keys;
                        ps.setInt(1, 100 + me);
                        ps.setInt(2, me * 1000 + j);
                        try (ResultSet rs = ps.executeQuery()) {
                            List<String> got = new ArrayList<>();
                            while (rs.next()) got.add(rs.getInt(1) + "|" + rs.getInt(2) + "|" + rs.getString(3));
                            String want = (100 + me) + "|" + (me * 1000 + j) + "|thread " + me + " key " + j;
                            if (got.size() == 1 && got.get(0).equals(want)) ok++;
                            else if (bad.size() < 10) bad.add("iteration " + i + ": got " + got + " want [" + want + "]");
                            else bad.add("...");
                        } catch (SQLException e) {
                            if (bad.size() < 10) bad.add("iteration " + i + ": " + e.getSQLState() + " " + e.getMessage());
                            else bad.add("...");
                        }
                    }
                    ps.close();
                } catch (Exception e) {
                    bad.add("thread failed: " + e);
                }
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("thread", me);
                m.put("ok", ok);
                m.put("bad", bad.size() > 12 ? bad.subList(0, 12) : bad);
                m.put("bad_count", bad.size());
                results.add(m);
            });
            thread.start();
            ts.add(thread);
        }
        for (Thread th : ts) th.join(60_000);
        results.sort((x, y) -> Integer.compare((Integer) x.get("thread"), (Integer) y.get("thread")));
        for (Map<String, Object> m : results) {
            emit("step", "thread", "thread", m.get("thread"), "ok", m.get("ok"), "bad_count",
                 m.get("bad_count"), "bad", m.get("bad"));
        }
    }
}
