-- Silver: valid orders only.
select order_id, lower(customer) as customer, amount, placed_on
from {{ ref('raw_orders') }}
where amount > 0
