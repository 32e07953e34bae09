-- Raw orders as they land: every new JSON file once, bad lines kept in _rescued_data.
CREATE OR REFRESH STREAMING TABLE bronze_orders
  AS SELECT * FROM STREAM read_files('landing/orders/', format => 'json');

-- Clean orders: rows without an id are dropped, a non-positive amount stops the update,
-- old timestamps are kept but counted.
CREATE OR REFRESH STREAMING TABLE silver_orders (
  CONSTRAINT valid_id EXPECT (order_id IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT positive EXPECT (amount > 0) ON VIOLATION FAIL UPDATE,
  CONSTRAINT recent EXPECT (ts > '2020-01-01')            -- default: keep row, count violation
) AS SELECT * FROM STREAM(bronze_orders);

-- Revenue per day, refreshed from the new silver rows only.
CREATE OR REFRESH MATERIALIZED VIEW gold_daily AS
  SELECT date(ts) d, sum(amount) revenue FROM silver_orders GROUP BY 1;
