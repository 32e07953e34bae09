//! Which files of a snapshot a recipient's predicate hints rule out, decided by DataFusion's
//! `PruningPredicate` over the Delta log's statistics (delta-rs exposes them, typed as the
//! table's columns, partition values included). Comparisons therefore happen in the column's
//! own type — a decimal as a decimal, never as a float — and a hint is translated only where
//! the translation is exact; anything else keeps every file.

use std::sync::Arc;

use tarn_engine::datafusion::arrow::datatypes::{DataType, Schema};
use tarn_engine::datafusion::common::{DFSchema, ScalarValue};
use tarn_engine::datafusion::execution::context::ExecutionProps;
use tarn_engine::datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use tarn_engine::datafusion::logical_expr::{Expr, col, lit};
use tarn_engine::datafusion::physical_expr::create_physical_expr;
use tarn_engine::datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use tarn_engine::deltalake::DeltaTable;

use crate::predicate::{Cmp, Predicate};

/// For each file of `table`'s snapshot, in the order `log_data().iter()` yields them, whether
/// it may hold a row `predicate` accepts. `None` when nothing can be ruled out.
pub(crate) fn files_to_keep(predicate: &Predicate, table: &DeltaTable) -> Option<Vec<bool>> {
    let state = table.snapshot().ok()?;
    let schema = state.snapshot().arrow_schema();
    let expr = to_expr(predicate, &schema)?;
    let df_schema = DFSchema::try_from(schema.as_ref().clone()).ok()?;
    let physical = create_physical_expr(&expr, &df_schema, &ExecutionProps::new(), &PhysicalPlanningContext::default()).ok()?;
    let pruning = PruningPredicateBuilder::new().with_file_schema(schema.clone()).try_build(physical).ok()?;
    let log_data = state.log_data();
    let keep = pruning.prune(&log_data).ok()?;
    // The mask must line up with the files; anything else keeps them all.
    (keep.len() == log_data.iter().count()).then_some(keep)
}

/// `predicate` as a DataFusion expression over `schema`; `None` where it cannot narrow the
/// files (unknown columns, operators or literals that do not convert exactly).
fn to_expr(predicate: &Predicate, schema: &Arc<Schema>) -> Option<Expr> {
    match predicate {
        Predicate::Unknown => None,
        Predicate::IsNull(column) => Some(column_expr(column, schema)?.0.is_null()),
        // Files ruled out by any conjunct are ruled out by the whole; unknown conjuncts only
        // fail to narrow further.
        Predicate::And(all) => all.iter().filter_map(|p| to_expr(p, schema)).reduce(Expr::and),
        // One unknown disjunct may accept any row.
        Predicate::Or(any) => any.iter().map(|p| to_expr(p, schema)).collect::<Option<Vec<_>>>()?.into_iter().reduce(Expr::or),
        Predicate::Not(inner) => Some(!to_expr(inner, schema)?),
        Predicate::Compare { column, op, literal, .. } => {
            let (column, data_type) = column_expr(column, schema)?;
            let value = exact_literal(literal, &data_type)?;
            Some(match op.comparison() {
                Cmp::Eq => column.eq(value),
                Cmp::Lt => column.lt(value),
                Cmp::Le => column.lt_eq(value),
                Cmp::Gt => column.gt(value),
                Cmp::Ge => column.gt_eq(value),
            })
        }
    }
}

fn column_expr(name: &str, schema: &Schema) -> Option<(Expr, DataType)> {
    let field = schema.field_with_name(name).ok()?;
    Some((col(tarn_engine::datafusion::common::Column::new_unqualified(field.name())), field.data_type().clone()))
}

/// The literal as a value of `data_type`, if it converts without loss: a decimal literal with
/// more digits than the column's scale, or a float that changes in a narrower float type,
/// would compare differently, so it converts to nothing.
fn exact_literal(text: &str, data_type: &DataType) -> Option<Expr> {
    let text = text.trim();
    let value = ScalarValue::Utf8(Some(text.to_string())).cast_to(data_type).ok()?;
    if value.is_null() {
        return None;
    }
    let exact = match data_type {
        DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..) => {
            same_decimal(text, &value.to_string())
        }
        DataType::Float16 | DataType::Float32 => {
            let back = value.cast_to(&DataType::Float64).ok()?;
            matches!(back, ScalarValue::Float64(Some(f)) if Some(f) == text.parse::<f64>().ok())
        }
        _ => true,
    };
    exact.then(|| lit(value))
}

/// Whether two decimal texts are the same number (`1.50` and `1.5`, `-0` and `0`).
fn same_decimal(a: &str, b: &str) -> bool {
    fn normal(text: &str) -> Option<(bool, String, String)> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() && fraction.is_empty() || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let whole = whole.trim_start_matches('0').to_string();
        let fraction = fraction.trim_end_matches('0').to_string();
        let zero = whole.is_empty() && fraction.is_empty();
        Some((negative && !zero, whole, fraction))
    }
    matches!((normal(a), normal(b)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predicate::{column_types, parse_json_hints, parse_sql_hints};
    use tarn_engine::datafusion::arrow::array::{Decimal128Array, Int64Array, RecordBatch, StringArray};
    use tarn_engine::datafusion::arrow::datatypes::Field;

    /// Three files: region eu ids 1-3 with amounts 1.00-3.00, region us ids 10-12 with amounts
    /// 12.10 and 12.12, region us id 20 with no amount.
    async fn table(dir: &std::path::Path) -> DeltaTable {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("amount", DataType::Decimal128(20, 2), true),
            Field::new("region", DataType::Utf8, false),
        ]));
        let batch = |ids: Vec<i64>, amounts: Vec<Option<i128>>, region: &str| {
            let n = ids.len();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(ids)),
                    Arc::new(Decimal128Array::from(amounts).with_precision_and_scale(20, 2).expect("decimal")),
                    Arc::new(StringArray::from(vec![region; n])),
                ],
            )
            .expect("batch")
        };
        let url = url::Url::from_directory_path(dir).expect("url");
        let mut table = None;
        for b in [
            batch(vec![1, 2, 3], vec![Some(100), Some(200), Some(300)], "eu"),
            batch(vec![10, 11, 12], vec![Some(1_210), Some(1_212), None], "us"),
            batch(vec![20], vec![None], "us"),
        ] {
            let current = match table.take() {
                None => tarn_engine::deltalake::DeltaTableBuilder::from_url(url.clone()).expect("url").build().expect("table"),
                Some(t) => t,
            };
            table = Some(current.write(vec![b]).with_partition_columns(["region"]).await.expect("write"));
        }
        table.expect("table")
    }

    fn kept(table: &DeltaTable, predicate: &Predicate) -> Vec<i64> {
        let Some(keep) = files_to_keep(predicate, table) else { return vec![-1] };
        let state = table.snapshot().expect("snapshot");
        let mut min_ids: Vec<i64> = state
            .log_data()
            .iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|(f, _)| {
                let stats: serde_json::Value = serde_json::from_str(&f.stats().expect("stats")).expect("json");
                stats["minValues"]["id"].as_i64().expect("id")
            })
            .collect();
        min_ids.sort();
        min_ids
    }

    #[tokio::test]
    async fn hints_prune_by_statistics_partitions_and_exact_decimals() {
        let dir = tempfile::tempdir().expect("tempdir");
        let table = table(dir.path()).await;
        let types = column_types(
            r#"{"type":"struct","fields":[{"name":"id","type":"long"},{"name":"amount","type":"decimal(20,2)"},{"name":"region","type":"string"}]}"#,
        );
        let json = |hint: &str| parse_json_hints(hint, &types).expect("parse");
        let range = json(
            r#"{"op":"and","children":[
            {"op":"greaterThanOrEqual","children":[{"op":"column","name":"id","valueType":"long"},{"op":"literal","value":"10","valueType":"long"}]},
            {"op":"lessThan","children":[{"op":"column","name":"id","valueType":"long"},{"op":"literal","value":"20","valueType":"long"}]}]}"#,
        );
        assert_eq!(kept(&table, &range), vec![10]);
        assert_eq!(kept(&table, &parse_sql_hints(&["region = 'eu'".into()], &types)), vec![1]);
        // Decimals compare as decimals: 12.13 is past the second file's maximum 12.12.
        let above = kept(&table, &parse_sql_hints(&["amount = 12.13".into()], &types));
        assert!(!above.contains(&1) && !above.contains(&10), "{above:?}");
        let inside = kept(&table, &parse_sql_hints(&["amount = 12.11".into()], &types));
        assert!(inside.contains(&10) && !inside.contains(&1), "{inside:?}");
        // A literal with more digits than the column's scale rules nothing out.
        assert_eq!(kept(&table, &parse_sql_hints(&["amount = 10.001".into()], &types)), vec![-1]);
        // IS NULL keeps the files with nulls; NOT and unknown parts stay conservative.
        let nulls = kept(&table, &Predicate::IsNull("amount".into()));
        assert!(nulls.contains(&10) && nulls.contains(&20), "{nulls:?}");
        assert_eq!(kept(&table, &Predicate::Or(vec![range.clone(), Predicate::Unknown])), vec![-1]);
        assert_eq!(kept(&table, &Predicate::And(vec![range, Predicate::Unknown])), vec![10]);
    }

    #[test]
    fn decimal_literals_convert_only_when_exact() {
        let decimal = DataType::Decimal128(20, 2);
        assert!(exact_literal("12.50", &decimal).is_some());
        assert!(exact_literal("12.5", &decimal).is_some());
        assert!(exact_literal("-0.01", &decimal).is_some());
        assert!(exact_literal("12.345", &decimal).is_none(), "more digits than the scale would round");
        assert!(exact_literal("123456789012345678.99", &decimal).is_some(), "beyond f64's 15-16 digits, still exact");
        assert!(exact_literal("abc", &decimal).is_none());
        assert!(exact_literal("0.1", &DataType::Float32).is_none(), "0.1 is not a float32");
        assert!(exact_literal("0.5", &DataType::Float32).is_some());
        assert!(same_decimal("1.50", "1.5") && same_decimal("-0.00", "0") && !same_decimal("1.5", "15"));
    }
}
