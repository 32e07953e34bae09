//! `TABLESAMPLE`, which DataFusion would otherwise ignore (returning every row):
//! `(n ROWS)` keeps the first n rows, `(p PERCENT)` and `(BUCKET x OUT OF y)` keep each row
//! with probability p/100 or x/y, as Spark's sampling without replacement does.

use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::planner::{RelationPlanner, RelationPlannerContext, RelationPlanning};
use datafusion::logical_expr::{LogicalPlanBuilder, lit};
use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, TableFactor, TableSample as Sample, TableSampleKind, TableSampleUnit, Value};

#[derive(Debug, Default)]
pub struct TableSample;

fn number(expr: &SqlExpr) -> Option<f64> {
    match expr {
        SqlExpr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// The fraction of rows a sample keeps, or the number of rows.
enum Amount {
    Fraction(f64),
    Rows(usize),
}

fn amount(sample: &Sample) -> Result<Amount> {
    if sample.seed.is_some() || sample.offset.is_some() || sample.name.is_some() {
        return plan_err!("TABLESAMPLE takes (n PERCENT), (n ROWS) or (BUCKET x OUT OF y) in Spark SQL: {sample}");
    }
    if let Some(bucket) = &sample.bucket {
        let (x, y) = (bucket.bucket.to_string().parse::<f64>().ok(), bucket.total.to_string().parse::<f64>().ok());
        return match (x, y) {
            (Some(x), Some(y)) if y > 0.0 && (0.0..=y).contains(&x) && bucket.on.is_none() => Ok(Amount::Fraction(x / y)),
            _ => plan_err!("TABLESAMPLE (BUCKET x OUT OF y) needs 0 <= x <= y and y > 0: {sample}"),
        };
    }
    let Some(quantity) = &sample.quantity else {
        return plan_err!("TABLESAMPLE needs an amount: (n PERCENT), (n ROWS) or (BUCKET x OUT OF y)");
    };
    let Some(n) = number(&quantity.value) else {
        return plan_err!("TABLESAMPLE needs a number, got {}", quantity.value);
    };
    match quantity.unit {
        Some(TableSampleUnit::Percent) if (0.0..=100.0).contains(&n) => Ok(Amount::Fraction(n / 100.0)),
        Some(TableSampleUnit::Percent) => plan_err!("TABLESAMPLE percentage must be between 0 and 100, got {n}"),
        Some(TableSampleUnit::Rows) if n >= 0.0 && n.fract() == 0.0 => Ok(Amount::Rows(n as usize)),
        Some(TableSampleUnit::Rows) => plan_err!("TABLESAMPLE (n ROWS) needs a whole number of rows, got {n}"),
        None => plan_err!("TABLESAMPLE needs a unit: (n PERCENT) or (n ROWS)"),
    }
}

impl RelationPlanner for TableSample {
    fn plan_relation(&self, relation: TableFactor, context: &mut dyn RelationPlannerContext) -> Result<RelationPlanning> {
        let TableFactor::Table { sample: Some(kind), .. } = &relation else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        let (TableSampleKind::BeforeTableAlias(sample) | TableSampleKind::AfterTableAlias(sample)) = kind;
        let amount = amount(sample)?;
        // Sample the table itself; the caller applies the alias on top.
        let mut unsampled = relation.clone();
        let mut table_alias = None;
        if let TableFactor::Table { sample, alias, .. } = &mut unsampled {
            *sample = None;
            table_alias = alias.take();
        }
        let plan = LogicalPlanBuilder::from(context.plan(unsampled)?);
        let plan = match amount {
            Amount::Rows(n) => plan.limit(0, Some(n))?,
            Amount::Fraction(f) => plan.filter(datafusion::functions::math::expr_fn::random().lt(lit(f)))?,
        };
        Ok(RelationPlanning::Planned(Box::new(datafusion::logical_expr::planner::PlannedRelation::new(plan.build()?, table_alias))))
    }
}
