//! Spark's division and element access, with ANSI mode's errors.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, OffsetSizeTrait, UInt64Array};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

/// Whether all arguments were scalars: then the answer is one too.
fn answer(args: &[ColumnarValue], array: ArrayRef) -> Result<ColumnarValue> {
    if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?))
    } else {
        Ok(ColumnarValue::Array(array))
    }
}

/// NULL only when an operand is (a quotient or sum of values is a value or an error); the
/// same nullability the folded constant of a literal expression has.
fn operands_nullability(name: &str, data_type: DataType, args: &ReturnFieldArgs) -> FieldRef {
    Arc::new(Field::new(name, data_type, args.arg_fields.iter().any(|f| f.is_nullable())))
}

/// `a / b` on integers and doubles: both become doubles; a zero divisor is Spark's
/// `DIVIDE_BY_ZERO` error (ANSI mode), NULL stays NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Divide {
    signature: Signature,
}

impl Divide {
    pub fn new() -> Self {
        Self { signature: Signature::any(2, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for Divide {
    fn name(&self) -> &str {
        "spark_divide"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        match args {
            [a, b] => Ok(format!("{} / {}", a.schema_name(), b.schema_name())),
            _ => plan_err!("division takes two operands"),
        }
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(operands_nullability(self.name(), DataType::Float64, &args))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [a, b] = args.args.as_slice() else {
            return exec_err!("division takes two operands");
        };
        let a = cast(&a.to_array(args.number_rows)?, &DataType::Float64)?;
        let b = cast(&b.to_array(args.number_rows)?, &DataType::Float64)?;
        let (a, b) =
            (a.as_primitive::<datafusion::arrow::datatypes::Float64Type>(), b.as_primitive::<datafusion::arrow::datatypes::Float64Type>());
        let mut out = Vec::with_capacity(a.len());
        for i in 0..a.len() {
            if a.is_null(i) || b.is_null(i) {
                out.push(None);
            } else if b.value(i) == 0.0 {
                return exec_err!(
                    "[DIVIDE_BY_ZERO] Division by zero. Use `try_divide` to tolerate a zero divisor and return NULL instead."
                );
            } else {
                out.push(Some(a.value(i) / b.value(i)));
            }
        }
        answer(&args.args, Arc::new(Float64Array::from(out)))
    }
}

/// How an index counts.
#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
pub enum Indexing {
    /// `arr[i]`: from 0.
    ZeroBased,
    /// `element_at(arr, i)`: from 1, negative from the end, 0 is an error; also `element_at(map, key)`.
    ElementAt,
}

/// One element of an array (or a map's value), with ANSI mode's out-of-range errors.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ArrayItem {
    signature: Signature,
    indexing: Indexing,
}

impl ArrayItem {
    pub fn new(indexing: Indexing) -> Self {
        Self { signature: Signature::any(2, Volatility::Immutable), indexing }
    }
}

impl ScalarUDFImpl for ArrayItem {
    fn name(&self) -> &str {
        match self.indexing {
            Indexing::ZeroBased => "spark_array_item",
            Indexing::ElementAt => "element_at",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        match (self.indexing, args) {
            (Indexing::ZeroBased, [a, i]) => Ok(format!("{}[{}]", a.schema_name(), i.schema_name())),
            (_, [a, i]) => Ok(format!("element_at({}, {})", a.schema_name(), i.schema_name())),
            _ => plan_err!("{} takes two arguments", self.name()),
        }
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args.first() {
            Some(DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)) => Ok(f.data_type().clone()),
            Some(DataType::Map(entries, _)) if self.indexing == Indexing::ElementAt => match entries.data_type() {
                DataType::Struct(fields) if fields.len() == 2 => Ok(fields[1].data_type().clone()),
                other => plan_err!("element_at: unexpected map entries {other}"),
            },
            Some(DataType::Null) => Ok(DataType::Null),
            Some(other) => plan_err!(
                "{} needs an array{}, got {other}",
                self.name(),
                if self.indexing == Indexing::ElementAt { " or a map" } else { "" }
            ),
            None => plan_err!("{} takes two arguments", self.name()),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [container, key] = args.args.as_slice() else {
            return exec_err!("{} takes two arguments", self.name());
        };
        let container = container.to_array(args.number_rows)?;
        let key = key.to_array(args.number_rows)?;
        let result = match container.data_type() {
            DataType::Null => container,
            DataType::List(_) => self.item_of_list::<i32>(&container, &key)?,
            DataType::LargeList(_) => self.item_of_list::<i64>(&container, &key)?,
            DataType::FixedSizeList(f, _) => {
                let list = cast(&container, &DataType::List(f.clone()))?;
                self.item_of_list::<i32>(&list, &key)?
            }
            DataType::Map(_, _) => map_value(&container, &key)?,
            other => return exec_err!("{} needs an array, got {other}", self.name()),
        };
        answer(&args.args, result)
    }
}

impl ArrayItem {
    fn item_of_list<O: OffsetSizeTrait>(&self, lists: &ArrayRef, index: &ArrayRef) -> Result<ArrayRef> {
        let lists = lists.as_list::<O>();
        let index = cast(index, &DataType::Int64)?;
        let index: &Int64Array = index.as_primitive();
        let offsets = lists.value_offsets();
        let mut positions = Vec::with_capacity(lists.len());
        for row in 0..lists.len() {
            if lists.is_null(row) || index.is_null(row) {
                positions.push(None);
                continue;
            }
            let (start, len) = (offsets[row].as_usize() as i64, (offsets[row + 1].as_usize() - offsets[row].as_usize()) as i64);
            let i = index.value(row);
            let at = match self.indexing {
                Indexing::ZeroBased => {
                    if i < 0 || i >= len {
                        return exec_err!(
                            "[INVALID_ARRAY_INDEX] The index {i} is out of bounds. The array has {len} elements. Use the SQL function `get()` to tolerate accessing element at invalid index and return NULL instead."
                        );
                    }
                    i
                }
                Indexing::ElementAt => {
                    if i == 0 {
                        return exec_err!(
                            "[INVALID_INDEX_OF_ZERO] The index 0 is invalid. An index shall be either < 0 or > 0 (the first element has index 1)."
                        );
                    }
                    if i.abs() > len {
                        return exec_err!(
                            "[INVALID_ARRAY_INDEX_IN_ELEMENT_AT] The index {i} is out of bounds. The array has {len} elements. Use `try_element_at` to tolerate accessing element at invalid index and return NULL instead."
                        );
                    }
                    if i > 0 { i - 1 } else { len + i }
                }
            };
            positions.push(Some((start + at) as u64));
        }
        Ok(take(lists.values().as_ref(), &UInt64Array::from(positions), None)?)
    }
}

/// `element_at(map, key)`: the value under `key`, NULL when there is none.
fn map_value(maps: &ArrayRef, keys: &ArrayRef) -> Result<ArrayRef> {
    let maps = maps.as_map();
    let offsets = maps.value_offsets();
    let mut positions = Vec::with_capacity(maps.len());
    for row in 0..maps.len() {
        if maps.is_null(row) || keys.is_null(row) {
            positions.push(None);
            continue;
        }
        let wanted = ScalarValue::try_from_array(keys, row)?;
        let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
        let mut found = None;
        for j in start..end {
            let candidate = ScalarValue::try_from_array(maps.keys(), j)?;
            let candidate = if candidate.data_type() == wanted.data_type() { candidate } else { candidate.cast_to(&wanted.data_type())? };
            if candidate == wanted {
                found = Some(j as u64);
                break;
            }
        }
        positions.push(found);
    }
    Ok(take(maps.values().as_ref(), &UInt64Array::from(positions), None)?)
}

/// Spark's `array_prepend(array, element)`: DataFusion's `array_prepend` takes the element
/// first (and would nest the array into a NULL element's list).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ArrayPrepend {
    signature: Signature,
}

impl ArrayPrepend {
    pub fn new() -> Self {
        Self { signature: Signature::array_and_element(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for ArrayPrepend {
    fn name(&self) -> &str {
        "array_prepend"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args.first() {
            Some(t) => Ok(t.clone()),
            None => plan_err!("array_prepend(array, element) takes two arguments"),
        }
    }
    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if args.args.len() != 2 || args.arg_fields.len() != 2 {
            return exec_err!("array_prepend(array, element) takes two arguments");
        }
        args.args.swap(0, 1);
        args.arg_fields.swap(0, 1);
        datafusion::functions_nested::concat::array_prepend_udf().invoke_with_args(args)
    }
}

/// Integer `+`, `-` and `*` that fail on overflow, as Spark's ANSI mode does (DataFusion's
/// wrap around: `9223372036854775807 + 1` would be a large negative number).
#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
pub enum Arithmetic {
    Add,
    Subtract,
    Multiply,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CheckedArithmetic {
    signature: Signature,
    op: Arithmetic,
}

impl CheckedArithmetic {
    pub fn new(op: Arithmetic) -> Self {
        Self { signature: Signature::user_defined(Volatility::Immutable), op }
    }

    fn symbol(&self) -> &'static str {
        match self.op {
            Arithmetic::Add => "+",
            Arithmetic::Subtract => "-",
            Arithmetic::Multiply => "*",
        }
    }
}

/// The wider of two integer types (Spark's integers are signed).
fn wider_integer(a: &DataType, b: &DataType) -> DataType {
    let width = |t: &DataType| match t {
        DataType::Int8 | DataType::UInt8 => 1,
        DataType::Int16 | DataType::UInt16 => 2,
        DataType::Int32 | DataType::UInt32 => 3,
        _ => 4,
    };
    match width(a).max(width(b)) {
        1 => DataType::Int8,
        2 => DataType::Int16,
        3 => DataType::Int32,
        _ => DataType::Int64,
    }
}

impl ScalarUDFImpl for CheckedArithmetic {
    fn name(&self) -> &str {
        match self.op {
            Arithmetic::Add => "spark_checked_add",
            Arithmetic::Subtract => "spark_checked_subtract",
            Arithmetic::Multiply => "spark_checked_multiply",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        match args {
            [a, b] => Ok(format!("{} {} {}", a.schema_name(), self.symbol(), b.schema_name())),
            _ => plan_err!("{} takes two operands", self.symbol()),
        }
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match args {
            [a, b] if a.is_integer() && b.is_integer() => {
                let t = wider_integer(a, b);
                Ok(vec![t.clone(), t])
            }
            _ => plan_err!("integer {} needs two integers, got {args:?}", self.symbol()),
        }
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [a, b] => Ok(wider_integer(a, b)),
            _ => plan_err!("{} takes two operands", self.symbol()),
        }
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        Ok(operands_nullability(self.name(), self.return_type(&types)?, &args))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use datafusion::arrow::compute::kernels::numeric;
        let [a, b] = args.args.as_slice() else {
            return exec_err!("{} takes two operands", self.symbol());
        };
        let (a, b) = (a.to_array(args.number_rows)?, b.to_array(args.number_rows)?);
        let result = match self.op {
            Arithmetic::Add => numeric::add(&a, &b),
            Arithmetic::Subtract => numeric::sub(&a, &b),
            Arithmetic::Multiply => numeric::mul(&a, &b),
        };
        match result {
            Ok(array) => answer(&args.args, array),
            Err(datafusion::arrow::error::ArrowError::ArithmeticOverflow(_)) => {
                let hint = match self.op {
                    Arithmetic::Add => "try_add",
                    Arithmetic::Subtract => "try_subtract",
                    Arithmetic::Multiply => "try_multiply",
                };
                exec_err!(
                    "[ARITHMETIC_OVERFLOW] {} overflow in {}. Use '{hint}' to tolerate overflow and return NULL instead.",
                    a.data_type(),
                    self.symbol()
                )
            }
            Err(e) => Err(e.into()),
        }
    }
}
