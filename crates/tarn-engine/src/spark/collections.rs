//! Spark's division and element access, with ANSI mode's errors.

use std::sync::Arc;

use super::answer;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, OffsetSizeTrait, UInt64Array};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

/// NULL only when an operand is (a quotient or sum of values is a value or an error); the
/// same nullability the folded constant of a literal expression has.
fn operands_nullability(name: &str, data_type: DataType, args: &ReturnFieldArgs) -> FieldRef {
    Arc::new(Field::new(name, data_type, args.arg_fields.iter().any(|f| f.is_nullable())))
}

/// The divisor of Spark's `/` on integers and doubles, as a double: `a / b` is planned as
/// `CAST(a AS DOUBLE) / spark_divisor(b)`, so a zero divisor is Spark's `DIVIDE_BY_ZERO` error
/// (ANSI mode) instead of Infinity, and a long chain `a / b / c / ...` stays DataFusion's own
/// division (a function around the whole quotient made such chains cubic to plan).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Divisor {
    signature: Signature,
}

impl Divisor {
    pub fn new() -> Self {
        Self { signature: Signature::any(1, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for Divisor {
    fn name(&self) -> &str {
        "spark_divisor"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        match args {
            [b] => Ok(b.schema_name().to_string()),
            _ => plan_err!("a divisor is one operand"),
        }
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(operands_nullability(self.name(), DataType::Float64, &args))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [b] = args.args.as_slice() else {
            return exec_err!("a divisor is one operand");
        };
        let b = cast(&b.to_array(args.number_rows)?, &DataType::Float64)?;
        let values = b.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        if values.iter().any(|v| v == Some(0.0)) {
            return exec_err!("[DIVIDE_BY_ZERO] Division by zero. Use `try_divide` to tolerate a zero divisor and return NULL instead.");
        }
        answer(&args.args, b)
    }
}

/// How an index counts.
#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
pub enum Indexing {
    /// `arr[i]`: from 0.
    ZeroBased,
    /// `element_at(arr, i)`: from 1, negative from the end, 0 is an error; also `element_at(map, key)`.
    ElementAt,
    /// `get(arr, i)`: from 0, NULL out of range.
    Get,
    /// `try_element_at(arr, i)`: as `element_at`, NULL out of range (0 is still an error).
    TryElementAt,
}

impl Indexing {
    /// Whether an index out of range gives NULL rather than an error.
    fn lenient(self) -> bool {
        matches!(self, Indexing::Get | Indexing::TryElementAt)
    }
    /// Whether maps are indexed too (by key).
    fn takes_maps(self) -> bool {
        matches!(self, Indexing::ElementAt | Indexing::TryElementAt)
    }
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
            Indexing::Get => "get",
            Indexing::TryElementAt => "try_element_at",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        match (self.indexing, args) {
            (Indexing::ZeroBased, [a, i]) => Ok(format!("{}[{}]", a.schema_name(), i.schema_name())),
            (_, [a, i]) => Ok(format!("{}({}, {})", self.name(), a.schema_name(), i.schema_name())),
            _ => plan_err!("{} takes two arguments", self.name()),
        }
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args.first() {
            Some(DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)) => Ok(f.data_type().clone()),
            Some(DataType::Map(entries, _)) if self.indexing.takes_maps() => match entries.data_type() {
                DataType::Struct(fields) if fields.len() == 2 => Ok(fields[1].data_type().clone()),
                other => plan_err!("element_at: unexpected map entries {other}"),
            },
            Some(DataType::Null) => Ok(DataType::Null),
            Some(other) => {
                plan_err!("{} needs an array{}, got {other}", self.name(), if self.indexing.takes_maps() { " or a map" } else { "" })
            }
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
            DataType::Map(_, _) if self.indexing.takes_maps() => map_value(&container, &key)?,
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
            let in_range = match self.indexing {
                Indexing::ZeroBased | Indexing::Get => (0..len).contains(&i),
                Indexing::ElementAt | Indexing::TryElementAt => i == 0 || i.abs() <= len,
            };
            if !in_range && self.indexing.lenient() {
                positions.push(None);
                continue;
            }
            let at = match self.indexing {
                Indexing::ZeroBased | Indexing::Get => {
                    if i < 0 || i >= len {
                        return exec_err!(
                            "[INVALID_ARRAY_INDEX] The index {i} is out of bounds. The array has {len} elements. Use the SQL function `get()` to tolerate accessing element at invalid index and return NULL instead."
                        );
                    }
                    i
                }
                Indexing::ElementAt | Indexing::TryElementAt => {
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
