-- Silver: valid orders only, as a view (dbt's view materialization: create, rename, drop).
{{ config(materialized='view') }}
select order_id, lower(customer) as customer, amount, placed_on
from {{ ref('raw_orders') }}
where amount > 0
