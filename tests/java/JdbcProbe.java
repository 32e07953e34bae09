// Drives `tarn serve` through pgjdbc, the driver DBeaver, DataGrip and Metabase use for their
// schema browsers: the DatabaseMetaData calls they make, prepared statements and typed
// result getters. Prints one tab-separated line per finding; tests/python/test_bi_clients.py
// asserts on them. Usage: java -cp postgresql.jar:. JdbcProbe URL USER PASSWORD
import java.sql.*;
import java.util.*;

public class JdbcProbe {
    static void print(String... parts) {
        System.out.println(String.join("\t", parts));
    }

    static List<String> column(ResultSet rs, String name) throws SQLException {
        List<String> out = new ArrayList<>();
        while (rs.next()) out.add(String.valueOf(rs.getString(name)));
        rs.close();
        return out;
    }

    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        // Use named server-side prepared statements from the first execution, as long-lived
        // BI connections end up doing.
        props.setProperty("prepareThreshold", "1");
        try (Connection conn = DriverManager.getConnection(args[0], props)) {
            DatabaseMetaData md = conn.getMetaData();
            print("product", md.getDatabaseProductName(), md.getDatabaseProductVersion());
            print("catalogs", String.join(",", column(md.getCatalogs(), "TABLE_CAT")));
            print("schemas", String.join(",", column(md.getSchemas(), "TABLE_SCHEM")));
            print("table_types", String.join(",", column(md.getTableTypes(), "TABLE_TYPE")));
            ResultSet tables = md.getTables(null, "sales", "%", new String[] {"TABLE"});
            List<String> names = new ArrayList<>();
            while (tables.next()) names.add(tables.getString("TABLE_SCHEM") + "." + tables.getString("TABLE_NAME") + ":" + tables.getString("TABLE_TYPE"));
            print("tables", String.join(",", names));
            ResultSet cols = md.getColumns(null, "sales", "orders", "%");
            while (cols.next()) {
                print("column", cols.getString("COLUMN_NAME"), cols.getString("TYPE_NAME"),
                      String.valueOf(cols.getInt("DATA_TYPE")), cols.getString("IS_NULLABLE"),
                      String.valueOf(cols.getInt("ORDINAL_POSITION")));
            }
            print("primary_keys", String.valueOf(column(md.getPrimaryKeys(null, "sales", "orders"), "COLUMN_NAME").size()));
            print("imported_keys", String.valueOf(column(md.getImportedKeys(null, "sales", "orders"), "FKCOLUMN_NAME").size()));
            print("indexes", String.valueOf(column(md.getIndexInfo(null, "sales", "orders", false, true), "INDEX_NAME").size()));
            List<String> types = column(md.getTypeInfo(), "TYPE_NAME");
            print("type_info", types.contains("int8") && types.contains("text") ? "ok" : "missing:" + types);

            try (PreparedStatement ps = conn.prepareStatement(
                    "SELECT order_id, customer, amount, placed, shipped FROM sales.orders WHERE order_id >= ? AND customer <> ? ORDER BY order_id")) {
                for (int run = 0; run < 3; run++) {
                    ps.setInt(1, 2);
                    ps.setString(2, "nobody");
                    try (ResultSet rs = ps.executeQuery()) {
                        ResultSetMetaData rmd = rs.getMetaData();
                        List<String> row = new ArrayList<>();
                        for (int i = 1; i <= rmd.getColumnCount(); i++) row.add(rmd.getColumnTypeName(i));
                        print("result_types", String.join(",", row));
                        while (rs.next()) {
                            print("row", String.valueOf(rs.getLong(1)), rs.getString(2), rs.getBigDecimal(3).toPlainString(),
                                  String.valueOf(rs.getDate(4)), String.valueOf(rs.getBoolean(5)));
                        }
                    }
                }
            }
            try (PreparedStatement ins = conn.prepareStatement("INSERT INTO sales.orders VALUES (?, ?, ?, ?, ?)")) {
                ins.setInt(1, 9);
                ins.setString(2, "jdbc");
                ins.setBigDecimal(3, new java.math.BigDecimal("1.50"));
                ins.setDate(4, java.sql.Date.valueOf("2024-03-01"));
                ins.setBoolean(5, false);
                print("inserted", String.valueOf(ins.executeUpdate()));
            }
            try (Statement st = conn.createStatement()) {
                try {
                    st.executeQuery("SELECT * FROM sales.nope");
                    print("error", "none");
                } catch (SQLException e) {
                    print("error", e.getSQLState());
                }
                // The connection stays usable after an error.
                try (ResultSet rs = st.executeQuery("SELECT count(*) FROM sales.orders")) {
                    rs.next();
                    print("count", String.valueOf(rs.getLong(1)));
                }
            }
        }
    }
}
