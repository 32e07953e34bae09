//! Spark's types: the SQL names (`long`, `MAP<k, v>`, `TIMESTAMP_NTZ`, ...) to the Arrow types
//! tables store and casts produce, and the names Spark prints for Arrow types.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Fields, IntervalUnit, TimeUnit};
use datafusion::common::Result;
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::sql::sqlparser::ast::{ArrayElemTypeDef, DataType as SqlType, ExactNumberInfo, TimezoneInfo};

#[derive(Debug, Default)]
pub struct SparkTypes;

impl TypePlanner for SparkTypes {
    #[allow(deprecated)]
    fn plan_type(&self, sql_type: &SqlType) -> Result<Option<DataType>> {
        // DataFusion's own mapping for the rest (its TIMESTAMP and INTERVAL among them).
        let spark = matches!(
            sql_type,
            SqlType::Binary(_)
                | SqlType::Varbinary(_)
                | SqlType::Bytea
                | SqlType::Custom(..)
                | SqlType::TimestampNtz(_)
                | SqlType::Map(..)
                | SqlType::Struct(..)
                | SqlType::Array(_)
        );
        if !spark {
            return Ok(None);
        }
        match arrow_type(sql_type) {
            Ok(data_type) => Ok(Some(data_type)),
            // An unknown custom name: DataFusion says it is unsupported.
            Err(_) if matches!(sql_type, SqlType::Custom(..)) => Ok(None),
            Err(message) => datafusion::common::plan_err!("{message}"),
        }
    }
}

/// The Arrow type of a Spark SQL type, as tables store it and casts produce it; the message
/// for a type Spark does not have.
pub fn arrow_type(sql: &SqlType) -> std::result::Result<DataType, String> {
    use SqlType as S;
    Ok(match sql {
        S::TinyInt(_) => DataType::Int8,
        S::SmallInt(_) | S::Int2(_) => DataType::Int16,
        S::Int(_) | S::Integer(_) | S::Int4(_) => DataType::Int32,
        S::BigInt(_) | S::Int8(_) => DataType::Int64,
        S::Float(ExactNumberInfo::Precision(p)) if *p > 24 => DataType::Float64,
        S::Float(_) | S::Real | S::Float4 => DataType::Float32,
        S::Double(_) | S::DoublePrecision | S::Float8 | S::Float64 => DataType::Float64,
        S::Decimal(info) | S::Numeric(info) | S::Dec(info) => {
            let (precision, scale) = match info {
                ExactNumberInfo::None => (10, 0),
                ExactNumberInfo::Precision(p) => (*p, 0),
                ExactNumberInfo::PrecisionAndScale(p, s) => (*p, *s),
            };
            if !(1..=38).contains(&precision) || scale < 0 || scale as u64 > precision {
                return Err(format!("DECIMAL({precision},{scale}) is invalid: precision must be 1 to 38 and scale 0 to precision"));
            }
            DataType::Decimal128(precision as u8, scale as i8)
        }
        S::Boolean | S::Bool => DataType::Boolean,
        S::String(_)
        | S::Text
        | S::Varchar(_)
        | S::Char(_)
        | S::CharacterVarying(_)
        | S::Character(_)
        | S::CharVarying(_)
        | S::Nvarchar(_) => DataType::Utf8,
        S::Binary(_) | S::Varbinary(_) | S::Bytea | S::Blob(_) | S::Bytes(_) => DataType::Binary,
        S::Date => DataType::Date32,
        S::Timestamp(_, tz) => match tz {
            TimezoneInfo::WithoutTimeZone => DataType::Timestamp(TimeUnit::Microsecond, None),
            _ => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        },
        S::TimestampNtz(_) => DataType::Timestamp(TimeUnit::Microsecond, None),
        S::Array(
            ArrayElemTypeDef::AngleBracket(inner) | ArrayElemTypeDef::SquareBracket(inner, _) | ArrayElemTypeDef::Parenthesis(inner),
        ) => DataType::List(Arc::new(Field::new("element", arrow_type(inner)?, true))),
        S::Map(key, value) => {
            let entries = Field::new(
                "key_value",
                DataType::Struct(Fields::from(vec![
                    Field::new("key", arrow_type(key)?, false),
                    Field::new("value", arrow_type(value)?, true),
                ])),
                false,
            );
            DataType::Map(Arc::new(entries), false)
        }
        S::Struct(fields, _) => {
            let mut out = Vec::with_capacity(fields.len());
            for (i, f) in fields.iter().enumerate() {
                let name = f.field_name.as_ref().map(|n| n.value.clone()).unwrap_or_else(|| format!("col{}", i + 1));
                out.push(Field::new(name, arrow_type(&f.field_type)?, true));
            }
            DataType::Struct(Fields::from(out))
        }
        S::Custom(name, args) if args.is_empty() => match name.to_string().to_ascii_uppercase().as_str() {
            "LONG" => DataType::Int64,
            "SHORT" => DataType::Int16,
            "BYTE" => DataType::Int8,
            "TIMESTAMP_NTZ" => DataType::Timestamp(TimeUnit::Microsecond, None),
            "TIMESTAMP_LTZ" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            _ => return Err(unknown(sql)),
        },
        _ => return Err(unknown(sql)),
    })
}

fn unknown(sql: &SqlType) -> String {
    format!(
        "unsupported column type '{sql}'; use one of TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE, \
         DECIMAL(p,s), BOOLEAN, STRING, BINARY, DATE, TIMESTAMP, TIMESTAMP_NTZ, ARRAY<t>, MAP<k,v>, STRUCT<...>"
    )
}

/// Spark's name of a type, as `typeof` and error messages print it.
pub fn spark_type_name(t: &DataType) -> String {
    match t {
        DataType::Null => "void".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int8 | DataType::UInt8 => "tinyint".into(),
        DataType::Int16 | DataType::UInt16 => "smallint".into(),
        DataType::Int32 | DataType::UInt32 => "int".into(),
        DataType::Int64 | DataType::UInt64 => "bigint".into(),
        DataType::Float16 | DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => "binary".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, Some(_)) => "timestamp".into(),
        DataType::Timestamp(_, None) => "timestamp_ntz".into(),
        DataType::Interval(datafusion::arrow::datatypes::IntervalUnit::YearMonth) => "interval year to month".into(),
        DataType::Interval(_) | DataType::Duration(_) => "interval day to second".into(),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) | DataType::ListView(f) | DataType::LargeListView(f) => {
            format!("array<{}>", spark_type_name(f.data_type()))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                format!("map<{},{}>", spark_type_name(kv[0].data_type()), spark_type_name(kv[1].data_type()))
            }
            other => spark_type_name(other),
        },
        DataType::Struct(fields) => {
            let parts: Vec<String> = fields.iter().map(|f| format!("{}:{}", f.name(), spark_type_name(f.data_type()))).collect();
            format!("struct<{}>", parts.join(","))
        }
        DataType::Dictionary(_, value) => spark_type_name(value),
        other => other.to_string().to_lowercase(),
    }
}

/// Whether Spark casts `from` to `to` without losing anything (`Cast.canUpCast`): the casts a
/// view `WITH SCHEMA BINDING` tolerates when its tables' column types change.
pub fn can_up_cast(from: &DataType, to: &DataType) -> bool {
    use DataType as D;
    // Spark's numeric precedence: each converts to any later one without loss.
    fn rank(t: &DataType) -> Option<u8> {
        Some(match t {
            D::Int8 => 0,
            D::Int16 => 1,
            D::Int32 => 2,
            D::Int64 => 3,
            D::Float32 => 4,
            D::Float64 => 5,
            _ => return None,
        })
    }
    // (precision, scale) of the decimal holding every value of an integral type.
    fn integral_as_decimal(t: &DataType) -> Option<(u8, i8)> {
        Some(match t {
            D::Int8 => (3, 0),
            D::Int16 => (5, 0),
            D::Int32 => (10, 0),
            D::Int64 => (20, 0),
            _ => return None,
        })
    }
    let wider = |(p1, s1): (u8, i8), (p2, s2): (u8, i8)| i16::from(p2) - i16::from(s2) >= i16::from(p1) - i16::from(s1) && s2 >= s1;
    let nulls_fit = |from: bool, to: bool| to || !from;
    if from == to {
        return true;
    }
    match (from, to) {
        (D::Null, _) => true,
        (a, b) if rank(a).zip(rank(b)).is_some_and(|(a, b)| a < b) => true,
        (a, D::Decimal128(p, s)) if integral_as_decimal(a).is_some_and(|a| wider(a, (*p, *s))) => true,
        (D::Decimal128(p1, s1), D::Decimal128(p2, s2)) => wider((*p1, *s1), (*p2, *s2)),
        (D::Decimal128(p, s), b) if integral_as_decimal(b).is_some_and(|b| wider((*p, *s), b)) => true,
        (D::Date32, D::Timestamp(..)) | (D::Timestamp(..), D::Timestamp(..)) => true,
        (D::Timestamp(_, Some(_)), D::Int64) | (D::Int64, D::Timestamp(_, Some(_))) => true,
        (D::Interval(a), D::Interval(b)) => (*a == IntervalUnit::YearMonth) == (*b == IntervalUnit::YearMonth),
        (D::Duration(_), D::Duration(_)) => true,
        (a, D::Utf8 | D::LargeUtf8 | D::Utf8View) => !a.is_nested(),
        (D::List(a), D::List(b)) => nulls_fit(a.is_nullable(), b.is_nullable()) && can_up_cast(a.data_type(), b.data_type()),
        (D::Map(a, _), D::Map(b, _)) => can_up_cast(a.data_type(), b.data_type()),
        (D::Struct(a), D::Struct(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b.iter())
                    .all(|(a, b)| nulls_fit(a.is_nullable(), b.is_nullable()) && can_up_cast(a.data_type(), b.data_type()))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_casts_are_the_lossless_ones() {
        use DataType as D;
        assert!(can_up_cast(&D::Int16, &D::Int64));
        assert!(can_up_cast(&D::Int32, &D::Float64));
        assert!(!can_up_cast(&D::Int64, &D::Int32));
        assert!(can_up_cast(&D::Int32, &D::Decimal128(10, 0)));
        assert!(!can_up_cast(&D::Int32, &D::Decimal128(10, 2)));
        assert!(can_up_cast(&D::Decimal128(5, 2), &D::Decimal128(7, 3)));
        assert!(!can_up_cast(&D::Decimal128(5, 2), &D::Decimal128(5, 3)));
        assert!(can_up_cast(&D::Int64, &D::Utf8));
        assert!(!can_up_cast(&D::Utf8, &D::Int32));
        assert!(can_up_cast(&D::Date32, &D::Timestamp(TimeUnit::Microsecond, None)));
        let list = |t: DataType| D::List(Arc::new(Field::new("element", t, true)));
        assert!(can_up_cast(&list(D::Int8), &list(D::Int32)));
        assert!(!can_up_cast(&list(D::Float64), &list(D::Float32)));
    }
}
