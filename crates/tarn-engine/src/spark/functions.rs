//! Spark SQL functions DataFusion lacks under Spark's names.

use std::sync::Arc;

use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// `date(expr)`: the date of a timestamp, a date, or a string holding either (Spark's cast
/// to DATE).
#[derive(Debug, PartialEq, Eq, Hash)]
struct SparkDate {
    signature: Signature,
}

impl ScalarUDFImpl for SparkDate {
    fn name(&self) -> &str {
        "date"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Date32)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("date(expr) takes one argument");
        };
        let array = value.to_array(args.number_rows)?;
        // ANSI, as Databricks SQL: text that is no date is an error, not NULL.
        let strict = CastOptions { safe: false, ..Default::default() };
        let cast = |a: &datafusion::arrow::array::ArrayRef, t: &DataType| cast_with_options(a, t, &strict);
        let dates = match array.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => super::text_dates::dates(&array, true)?,
            _ => cast(&array, &DataType::Date32)?,
        };
        super::answer(&args.args, dates)
    }
}

/// The functions to register in every session.
pub fn udfs() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(SparkDate { signature: Signature::any(1, Volatility::Immutable) })),
        element_at(),
        Arc::new(ScalarUDF::new_from_impl(super::collections::ArrayItem::new(super::collections::Indexing::Get))),
        Arc::new(ScalarUDF::new_from_impl(super::collections::ArrayItem::new(super::collections::Indexing::TryElementAt))),
        Arc::new(ScalarUDF::new_from_impl(super::collections::ArrayPrepend::new())),
        Arc::new(ScalarUDF::new_from_impl(TypeOf { signature: Signature::any(1, Volatility::Immutable) })),
        super::extract::date_part(),
        super::sequence::function(),
        super::months_between::function(),
    ]
    .into_iter()
    .chain(super::extract::field_functions())
    .chain(super::tries::functions())
    .chain(super::strings::functions())
    .chain(super::math::functions())
    .chain(super::random::functions())
    .chain(super::units::functions())
    .chain(super::make_timestamp::functions())
    .chain(super::regexp::functions())
    .chain(super::json::functions())
    .collect()
}

/// The divisor of Spark's `/` on integers and floating point numbers (planned by `operators`).
pub fn divisor() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(super::collections::Divisor::new()))
}

/// Spark's decimal `/` (planned by `operators`).
pub fn decimal_divide() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(super::decimal::DecimalDivide::new()))
}

/// Spark's `arr[i]` (planned by `operators`).
pub fn array_item() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(super::collections::ArrayItem::new(super::collections::Indexing::ZeroBased)))
}

/// Spark's `element_at(array, i)` / `element_at(map, key)`.
pub fn element_at() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(super::collections::ArrayItem::new(super::collections::Indexing::ElementAt)))
}

/// `width_bucket(v, min, max, n)` from `datafusion-spark`, except that `n` = 2^63 - 1 is NULL
/// as in Spark (the crate computes `n + 1` and overflows).
#[derive(Debug, PartialEq, Eq, Hash)]
struct WidthBucket {
    inner: Arc<ScalarUDF>,
}

impl ScalarUDFImpl for WidthBucket {
    fn name(&self) -> &str {
        "width_bucket"
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        self.inner.return_type(args)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use datafusion::arrow::array::{AsArray, Int64Array};
        use datafusion::arrow::datatypes::Int64Type;
        let Some(buckets) = args.args.get(3) else {
            return exec_err!("width_bucket takes four arguments");
        };
        let buckets = cast_with_options(&buckets.to_array(args.number_rows)?, &DataType::Int64, &CastOptions::default())?;
        let guarded: Int64Array = buckets.as_primitive::<Int64Type>().iter().map(|n| n.filter(|n| *n != i64::MAX)).collect();
        let mut args = args;
        let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        args.args[3] = if scalar && !guarded.is_empty() {
            ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(&guarded, 0)?)
        } else {
            ColumnarValue::Array(Arc::new(guarded))
        };
        self.inner.invoke_with_args(args)
    }
}

/// Functions of `datafusion-spark` that need a guard, wrapped.
pub fn guarded() -> Vec<Arc<ScalarUDF>> {
    vec![Arc::new(ScalarUDF::new_from_impl(WidthBucket { inner: datafusion_spark::function::math::width_bucket() }))]
}

/// `typeof(expr)`: Spark's name of the argument's type (`int`, `decimal(5,2)`, `array<string>`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct TypeOf {
    signature: Signature,
}

impl ScalarUDFImpl for TypeOf {
    fn name(&self) -> &str {
        "typeof"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn return_field_from_args(&self, _args: datafusion::logical_expr::ReturnFieldArgs) -> Result<datafusion::arrow::datatypes::FieldRef> {
        // Never NULL, so the literal `simplify` gives has the same schema.
        Ok(Arc::new(datafusion::arrow::datatypes::Field::new(self.name(), DataType::Utf8, false)))
    }
    /// The answer is the argument's type, known when planning: the argument is never evaluated
    /// (Spark's `typeof(a + b)` does not raise the sum's overflow).
    fn simplify(
        &self,
        args: Vec<datafusion::logical_expr::Expr>,
        info: &datafusion::logical_expr::simplify::SimplifyContext,
    ) -> Result<datafusion::logical_expr::simplify::ExprSimplifyResult> {
        use datafusion::logical_expr::simplify::ExprSimplifyResult;
        let [arg] = args.as_slice() else { return Ok(ExprSimplifyResult::Original(args)) };
        let name = super::types::spark_type_name(&info.get_data_type(arg)?);
        Ok(ExprSimplifyResult::Simplified(datafusion::logical_expr::lit(name)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(field) = args.arg_fields.first() else {
            return exec_err!("typeof(expr) takes one argument");
        };
        let name = super::types::spark_type_name(field.data_type());
        Ok(ColumnarValue::Scalar(datafusion::common::ScalarValue::Utf8(Some(name))))
    }
}

/// Which name a [`SessionName`] function answers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum SessionNameKind {
    Catalog,
    Schema,
    /// Who runs the statement, fixed when the function is registered for it.
    User(String),
}

/// `current_catalog()`, `current_schema()` / `current_database()`: the names unqualified
/// tables resolve in for this statement (the session's `USE`), known when it is planned.
/// `current_user()` (`user()`, `session_user()`): who runs the statement — the signed-in
/// principal on a server, the operating-system user for the local administrator, as Spark in
/// local mode; registered per statement (a view's body runs as its reader, so a view that
/// filters on `current_user()` answers each reader for themself).
#[derive(Debug, PartialEq, Eq, Hash)]
struct SessionName {
    kind: SessionNameKind,
    aliases: Vec<String>,
    signature: Signature,
}

impl SessionName {
    fn udf(kind: SessionNameKind, aliases: Vec<String>) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(SessionName { kind, aliases, signature: Signature::nullary(Volatility::Stable) }))
    }

    /// The statement's catalog or schema (from its configuration), or its user.
    fn answer(&self, config: &datafusion::common::config::ConfigOptions) -> String {
        match &self.kind {
            SessionNameKind::Catalog => config.catalog.default_catalog.clone(),
            SessionNameKind::Schema => config.catalog.default_schema.clone(),
            SessionNameKind::User(user) => user.clone(),
        }
    }
}

impl ScalarUDFImpl for SessionName {
    fn name(&self) -> &str {
        match self.kind {
            SessionNameKind::Catalog => "current_catalog",
            SessionNameKind::Schema => "current_schema",
            SessionNameKind::User(_) => "current_user",
        }
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn return_field_from_args(&self, _args: datafusion::logical_expr::ReturnFieldArgs) -> Result<datafusion::arrow::datatypes::FieldRef> {
        Ok(Arc::new(datafusion::arrow::datatypes::Field::new(self.name(), DataType::Utf8, false)))
    }
    fn simplify(
        &self,
        _args: Vec<datafusion::logical_expr::Expr>,
        info: &datafusion::logical_expr::simplify::SimplifyContext,
    ) -> Result<datafusion::logical_expr::simplify::ExprSimplifyResult> {
        let name = self.answer(info.config_options());
        Ok(datafusion::logical_expr::simplify::ExprSimplifyResult::Simplified(datafusion::logical_expr::lit(name)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(datafusion::common::ScalarValue::Utf8(Some(self.answer(&args.config_options)))))
    }
}

/// The session-name functions, to register under Spark's names. `current_database()` is
/// Spark's name for the schema, except where a Postgres front end has already given it
/// Postgres' meaning (the catalog, its database).
pub(crate) fn session_names(postgres_database: bool) -> Vec<Arc<ScalarUDF>> {
    let schema_aliases = if postgres_database { Vec::new() } else { vec!["current_database".to_string()] };
    vec![SessionName::udf(SessionNameKind::Catalog, Vec::new()), SessionName::udf(SessionNameKind::Schema, schema_aliases)]
}

/// `current_user()` answering `user`, also under the aliases not in `taken`.
pub fn current_user(user: &str, taken: &[String]) -> Arc<ScalarUDF> {
    let aliases = ["user", "session_user"].into_iter().filter(|a| !taken.iter().any(|t| t == a)).map(String::from).collect();
    SessionName::udf(SessionNameKind::User(user.to_string()), aliases)
}
