//! `tarn demo`: the README's first command. Builds a small table and walks through what a
//! lakehouse does, printing every statement and its result.

use tarn_cli::{RunOptions, run_script};
use tarn_sql::Session;

const DEMO: &str = "
CREATE SCHEMA IF NOT EXISTS demo;
CREATE OR REPLACE TABLE demo.orders (id BIGINT NOT NULL, customer STRING, amount DECIMAL(10,2), day DATE)
  PARTITIONED BY (day);
INSERT INTO demo.orders VALUES
  (1, 'ada', 12.50, DATE '2026-11-01'), (2, 'grace', 99.00, DATE '2026-11-01'),
  (3, 'alan', 5.25, DATE '2026-11-02');
UPDATE demo.orders SET amount = amount * 2 WHERE customer = 'alan';
DELETE FROM demo.orders WHERE id = 2;
SELECT * FROM demo.orders ORDER BY id;
SELECT * FROM demo.orders VERSION AS OF 1 ORDER BY id;
DESCRIBE HISTORY demo.orders;
DROP TABLE IF EXISTS demo.orders_dev;
CREATE TABLE demo.orders_dev SHALLOW CLONE demo.orders;
INSERT INTO demo.orders_dev VALUES (4, 'edsger', 1.00, DATE '2026-11-03');
SELECT (SELECT count(*) FROM demo.orders) AS prod_rows, (SELECT count(*) FROM demo.orders_dev) AS dev_rows;
OPTIMIZE demo.orders ZORDER BY (customer);
DESCRIBE DETAIL demo.orders;
";

pub async fn run(session: &mut Session, warehouse: &str) -> Result<(), String> {
    println!("Tarn demo in warehouse '{warehouse}'");
    let options = RunOptions { echo: true, ..Default::default() };
    run_script(session, DEMO, &options).await.map_err(|e| e.to_string())?;
    println!("\nEvery table above is a Delta table under '{warehouse}'; any Delta reader can open it.");
    Ok(())
}
