//! Spark's interval range literals — `INTERVAL '2-1' YEAR TO MONTH`, `INTERVAL '1 2:03:04.5'
//! DAY TO SECOND`, `HOUR TO MINUTE`, ... — which DataFusion does not plan, as the interval of
//! units it does (`INTERVAL '2 years 1 months'`). The text is read as Spark reads it: a sign
//! in front applies to every field, hours are 0-23, minutes and seconds 0-59, a fraction of a
//! second is kept to the microsecond (Spark's precision). A negated interval literal is negated
//! whole.

use sqlparser::ast::{DateTimeField, Expr, Interval, Value, ValueWithSpan};

use crate::error::{Result, SqlError};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Field {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

fn field(f: &DateTimeField) -> Option<Field> {
    Some(match f {
        DateTimeField::Year | DateTimeField::Years => Field::Year,
        DateTimeField::Month | DateTimeField::Months => Field::Month,
        DateTimeField::Day | DateTimeField::Days => Field::Day,
        DateTimeField::Hour | DateTimeField::Hours => Field::Hour,
        DateTimeField::Minute | DateTimeField::Minutes => Field::Minute,
        DateTimeField::Second | DateTimeField::Seconds => Field::Second,
        _ => return None,
    })
}

/// `expr` rewritten when it is an interval range literal, or a negated interval literal:
/// DataFusion reads `-INTERVAL '1 day 2 hours'` as `INTERVAL '-1 day 2 hours'` (only the first
/// unit negated), so the literal is put in parentheses, which it negates whole.
pub(super) fn rewrite(expr: &mut Expr) -> Result<()> {
    if let Expr::UnaryOp { op: sqlparser::ast::UnaryOperator::Minus, expr: inner } = expr
        && matches!(inner.as_ref(), Expr::Interval(_))
    {
        let interval = std::mem::replace(inner.as_mut(), Expr::Value(Value::Null.into()));
        **inner = Expr::Nested(Box::new(interval));
        return Ok(());
    }
    let Expr::Interval(Interval { value, leading_field: Some(leading), last_field: Some(last), .. }) = expr else { return Ok(()) };
    let (Some(from), Some(to)) = (field(leading), field(last)) else { return Ok(()) };
    let Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(text) | Value::DoubleQuotedString(text), .. }) = value.as_ref() else {
        return Ok(());
    };
    let units = units(text, from, to)?;
    *expr = Expr::Interval(Interval {
        value: Box::new(Expr::Value(Value::SingleQuotedString(units).into())),
        leading_field: None,
        leading_precision: None,
        last_field: None,
        fractional_seconds_precision: None,
    });
    Ok(())
}

fn invalid(text: &str, from: Field, to: Field) -> SqlError {
    let name = |f: Field| format!("{f:?}").to_ascii_uppercase();
    SqlError::user(format!(
        "[INVALID_INTERVAL_FORMAT] '{text}' is not an interval {} TO {} (e.g. '2-1' for YEAR TO MONTH, '1 2:03:04.5' for DAY TO SECOND)",
        name(from),
        name(to)
    ))
}

/// The interval `text` names from field `from` to `to`, as units DataFusion reads.
fn units(text: &str, from: Field, to: Field) -> Result<String> {
    let bad = || invalid(text, from, to);
    if from >= to || (from <= Field::Month) != (to <= Field::Month) {
        return Err(bad());
    }
    let trimmed = text.trim();
    let (negative, body) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    let sign = if negative { "-" } else { "" };
    if from == Field::Year {
        let (years, months) = body.split_once('-').ok_or_else(bad)?;
        let (years, months) = (number(years).ok_or_else(bad)?, number(months).ok_or_else(bad)?);
        if months > 11 {
            return Err(bad());
        }
        return Ok(format!("{sign}{years} years {sign}{months} months"));
    }
    // Day-time: [d ]h:m:s split by the fields the range names.
    let mut rest = body;
    let mut parts = Vec::new();
    if from == Field::Day {
        let (days, time) = match rest.split_once(' ') {
            Some((d, t)) => (d, Some(t)),
            None => (rest, None),
        };
        parts.push((Field::Day, days.to_string()));
        rest = time.unwrap_or("");
        if to == Field::Day {
            return Err(bad());
        }
    }
    let fields: Vec<Field> =
        [Field::Hour, Field::Minute, Field::Second].into_iter().filter(|f| *f >= from.max(Field::Hour) && *f <= to).collect();
    let pieces: Vec<&str> = rest.split(':').collect();
    if pieces.len() != fields.len() {
        return Err(bad());
    }
    for (f, piece) in fields.iter().zip(pieces) {
        parts.push((*f, piece.trim().to_string()));
    }
    let mut out = Vec::new();
    for (i, (f, piece)) in parts.iter().enumerate() {
        let leading = i == 0;
        let text = match f {
            Field::Second => {
                let (whole, fraction) = piece.split_once('.').unwrap_or((piece, ""));
                let whole = number(whole).ok_or_else(bad)?;
                if (!leading && whole > 59) || fraction.len() > 9 || !fraction.chars().all(|c| c.is_ascii_digit()) {
                    return Err(bad());
                }
                let micros: String = fraction.chars().chain(std::iter::repeat('0')).take(6).collect();
                format!("{sign}{whole}.{micros} seconds")
            }
            other => {
                let value = number(piece).ok_or_else(bad)?;
                let limit = match other {
                    Field::Hour => 23,
                    Field::Minute => 59,
                    _ => u64::MAX,
                };
                if !leading && value > limit {
                    return Err(bad());
                }
                let unit = match other {
                    Field::Day => "days",
                    Field::Hour => "hours",
                    _ => "minutes",
                };
                format!("{sign}{value} {unit}")
            }
        };
        out.push(text);
    }
    Ok(out.join(" "))
}

fn number(text: &str) -> Option<u64> {
    let text = text.trim();
    (!text.is_empty() && text.chars().all(|c| c.is_ascii_digit())).then(|| text.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_become_units() {
        assert_eq!(units("2-1", Field::Year, Field::Month).unwrap(), "2 years 1 months");
        assert_eq!(units("-2-1", Field::Year, Field::Month).unwrap(), "-2 years -1 months");
        assert_eq!(units("123 12:34:56.789123123", Field::Day, Field::Second).unwrap(), "123 days 12 hours 34 minutes 56.789123 seconds");
        assert_eq!(units("12:12:12", Field::Hour, Field::Second).unwrap(), "12 hours 12 minutes 12.000000 seconds");
        assert_eq!(units("1 2", Field::Day, Field::Hour).unwrap(), "1 days 2 hours");
        assert!(units("1 25:00", Field::Day, Field::Minute).is_err());
        assert!(units("2-13", Field::Year, Field::Month).is_err());
        assert!(units("1:2", Field::Day, Field::Second).is_err());
    }
}
