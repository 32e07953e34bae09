//! Spark's seeded random functions: `rand`/`random`, `randn`, `uniform` and `randstr`.
//!
//! With a seed, Spark's answers are reproducible: `rand(0)` is `0.7604953758285915` on every
//! Spark. Spark draws from its `XORShiftRandom` (a 64-bit xorshift whose seed is scrambled with
//! MurmurHash3), through `java.util.Random`'s `nextDouble` / `nextInt` / `nextGaussian`; this
//! module draws the same numbers, so a seeded query copied from Databricks gives the same rows.
//!
//! A generator lives as long as one query: when a query is planned, `simplify` replaces each call
//! by a [`Seeded`] function holding its own generator, which every batch then draws from in
//! turn. Spark starts one generator per partition at `seed + partition`; Tarn's first
//! partition matches Spark's, and a query over several partitions draws in the order the
//! batches arrive (as unreproducible as Spark's partitioning is for the same rows).

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// Spark's `XORShiftRandom`, read through `java.util.Random`'s methods.
#[derive(Debug, Clone)]
pub(crate) struct XorShift {
    state: i64,
    next_gaussian: Option<f64>,
}

/// Scala's `MurmurHash3.bytesHash` (Spark scrambles a seed's eight bytes with it).
fn murmur3_bytes(data: &[u8], seed: u32) -> u32 {
    fn mix_last(hash: u32, k: u32) -> u32 {
        hash ^ k.wrapping_mul(0xcc9e_2d51).rotate_left(15).wrapping_mul(0x1b87_3593)
    }
    let mut h = seed;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        h = mix_last(h, k).rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let k = tail.iter().rev().fold(0u32, |k, b| (k << 8) | u32::from(*b));
        h = mix_last(h, k);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

impl XorShift {
    pub(crate) fn new(seed: i64) -> Self {
        // XORShiftRandom.hashSeed: MurmurHash3 of the big-endian bytes, twice.
        let bytes = seed.to_be_bytes();
        let low = murmur3_bytes(&bytes, 0x3c07_4a61);
        let high = murmur3_bytes(&bytes, low);
        Self { state: ((u64::from(high) << 32) | u64::from(low)) as i64, next_gaussian: None }
    }

    fn next(&mut self, bits: u32) -> i32 {
        let mut next = self.state ^ (self.state << 21);
        next ^= ((next as u64) >> 35) as i64;
        next ^= next << 4;
        self.state = next;
        (next & ((1i64 << bits) - 1)) as i32
    }

    pub(crate) fn next_int(&mut self) -> i32 {
        self.next(32)
    }

    pub(crate) fn next_double(&mut self) -> f64 {
        let high = i64::from(self.next(26)) << 27;
        (high + i64::from(self.next(27))) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `java.util.Random.nextGaussian`: the polar method, two numbers per round.
    pub(crate) fn next_gaussian(&mut self) -> f64 {
        if let Some(g) = self.next_gaussian.take() {
            return g;
        }
        loop {
            let v1 = 2.0 * self.next_double() - 1.0;
            let v2 = 2.0 * self.next_double() - 1.0;
            let s = v1 * v1 + v2 * v2;
            if s < 1.0 && s != 0.0 {
                let multiplier = (-2.0 * s.ln() / s).sqrt();
                self.next_gaussian = Some(v2 * multiplier);
                return v1 * multiplier;
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// `rand([seed])`: uniform in [0, 1).
    Rand,
    /// `randn([seed])`: standard normal.
    Randn,
    /// `uniform(min, max[, seed])`: uniform in [min, max), in their type.
    Uniform,
    /// `randstr(length[, seed])`: letters and digits.
    RandStr,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Rand => "rand",
            Kind::Randn => "randn",
            Kind::Uniform => "uniform",
            Kind::RandStr => "randstr",
        }
    }
    /// How many arguments come before the optional seed.
    fn operands(self) -> usize {
        match self {
            Kind::Rand | Kind::Randn => 0,
            Kind::Uniform => 2,
            Kind::RandStr => 1,
        }
    }
}

/// The four functions, to register under Spark's names.
pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    [Kind::Rand, Kind::Randn, Kind::Uniform, Kind::RandStr]
        .into_iter()
        .map(|kind| {
            let aliases = if kind == Kind::Rand { vec!["random".to_string()] } else { Vec::new() };
            Arc::new(ScalarUDF::new_from_impl(SparkRandom { kind, aliases, signature: Signature::user_defined(Volatility::Volatile) }))
        })
        .collect()
}

/// A function as called in SQL; planning turns it into a [`Seeded`] one.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SparkRandom {
    kind: Kind,
    aliases: Vec<String>,
    signature: Signature,
}

/// `uniform`'s result type (Spark's `Uniform.dataType`).
fn uniform_type(min: &DataType, max: &DataType) -> DataType {
    use DataType::*;
    let both = [min, max];
    if both.iter().any(|t| t.is_null()) {
        return Float64;
    }
    if both.iter().all(|t| t.is_integer()) {
        return if both.contains(&&Int64) { Int64 } else { Int32 };
    }
    if both.contains(&&Float64) {
        return Float64;
    }
    if both.contains(&&Float32) {
        return Float32;
    }
    if max.is_decimal() { max.clone() } else { min.clone() }
}

/// The checks Spark makes of the argument types when it analyses a call; the result type.
/// (That the arguments are constants is checked once they are folded, in `simplify`.)
fn check(kind: Kind, types: &[DataType]) -> Result<DataType> {
    let name = kind.name();
    let operands = kind.operands();
    if types.len() < operands || types.len() > operands + 1 {
        return plan_err!("[WRONG_NUM_ARGS] {name} takes {operands} or {} arguments, got {}", operands + 1, types.len());
    }
    for (i, t) in types.iter().enumerate() {
        let allowed = if i == operands {
            t.is_null() || matches!(t, DataType::Int32 | DataType::Int64 | DataType::Int16 | DataType::Int8)
        } else {
            t.is_numeric() || t.is_null()
        };
        if !allowed {
            let wanted = if i == operands { "an INT or BIGINT seed" } else { "a number" };
            return plan_err!("[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] {name}'s argument {} must be {wanted}, got {t}", i + 1);
        }
    }
    Ok(match kind {
        Kind::Rand | Kind::Randn => DataType::Float64,
        Kind::Uniform => uniform_type(&types[0], &types[1]),
        Kind::RandStr => DataType::Utf8,
    })
}

/// A call's result field: `rand`, `randn` and `randstr` never answer NULL; `uniform` does for
/// a NULL bound (its first two arguments; the seed's NULL is 0).
fn result_field(kind: Kind, fields: &[FieldRef]) -> Result<FieldRef> {
    let types: Vec<DataType> = fields.iter().map(|f| f.data_type().clone()).collect();
    let nullable = kind == Kind::Uniform && fields.iter().take(2).any(|f| f.is_nullable());
    Ok(Arc::new(Field::new(kind.name(), check(kind, &types)?, nullable)))
}

/// The seed argument's value: NULL is 0 as in Spark, none is a fresh random seed.
fn seed_of(kind: Kind, args: &[Expr]) -> Option<i64> {
    match args.get(kind.operands()) {
        None => Some(std::collections::hash_map::RandomState::new().build_hasher().finish() as i64),
        Some(Expr::Literal(value, _)) if value.is_null() => Some(0),
        Some(Expr::Literal(value, _)) => match value.cast_to(&DataType::Int64).ok()? {
            ScalarValue::Int64(seed) => seed,
            _ => None,
        },
        Some(_) => None,
    }
}

impl ScalarUDFImpl for SparkRandom {
    fn name(&self) -> &str {
        self.kind.name()
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        Ok(args.to_vec())
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        check(self.kind, args)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        result_field(self.kind, args.arg_fields)
    }
    /// Runs after constant folding: every argument must be a literal by now, as Spark requires.
    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        if let Some(position) = args.iter().position(|a| !matches!(a, Expr::Literal(..))) {
            return plan_err!(
                "[DATATYPE_MISMATCH.NON_FOLDABLE_INPUT] {}'s arguments must be constants, argument {} is not",
                self.name(),
                position + 1
            );
        }
        let Some(seed) = seed_of(self.kind, &args) else { return Ok(ExprSimplifyResult::Original(args)) };
        let operands = args.into_iter().take(self.kind.operands()).collect();
        let seeded = Seeded::new(self.kind, seed);
        Ok(ExprSimplifyResult::Simplified(Expr::ScalarFunction(ScalarFunction::new_udf(
            Arc::new(ScalarUDF::new_from_impl(seeded)),
            operands,
        ))))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Only reached when the plan was not simplified: a generator for this batch alone.
        let seed = match args.args.get(self.kind.operands()) {
            None => std::collections::hash_map::RandomState::new().build_hasher().finish() as i64,
            Some(ColumnarValue::Scalar(value)) if value.is_null() => 0,
            Some(ColumnarValue::Scalar(value)) => match value.cast_to(&DataType::Int64)? {
                ScalarValue::Int64(Some(seed)) => seed,
                _ => 0,
            },
            Some(ColumnarValue::Array(_)) => return exec_err!("{}'s seed must be a constant", self.name()),
        };
        let mut generator = XorShift::new(seed);
        draw(self.kind, &mut generator, &args.args[..self.kind.operands()], args.return_field.data_type(), args.number_rows)
    }
}

/// Distinguishes one planned call's generator from another's.
static NEXT_GENERATOR: AtomicU64 = AtomicU64::new(0);

/// One call of a random function in one planned query, with its generator.
#[derive(Debug)]
struct Seeded {
    kind: Kind,
    seed: i64,
    id: u64,
    generator: Mutex<XorShift>,
    signature: Signature,
}

impl Seeded {
    fn new(kind: Kind, seed: i64) -> Self {
        Self {
            kind,
            seed,
            id: NEXT_GENERATOR.fetch_add(1, Ordering::Relaxed),
            generator: Mutex::new(XorShift::new(seed)),
            signature: Signature::user_defined(Volatility::Volatile),
        }
    }
}

impl PartialEq for Seeded {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for Seeded {}
impl Hash for Seeded {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.kind, self.seed, self.id).hash(state);
    }
}

impl ScalarUDFImpl for Seeded {
    fn name(&self) -> &str {
        self.kind.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        Ok(args.to_vec())
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        check(self.kind, args)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        result_field(self.kind, args.arg_fields)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let mut generator = match self.generator.lock() {
            Ok(generator) => generator,
            Err(poisoned) => poisoned.into_inner(),
        };
        draw(self.kind, &mut generator, &args.args, args.return_field.data_type(), args.number_rows)
    }
}

/// `rows` draws, as the function's result.
fn draw(kind: Kind, generator: &mut XorShift, operands: &[ColumnarValue], result: &DataType, rows: usize) -> Result<ColumnarValue> {
    let array: ArrayRef = match kind {
        Kind::Rand => Arc::new(Float64Array::from_iter_values((0..rows).map(|_| generator.next_double()))),
        Kind::Randn => Arc::new(Float64Array::from_iter_values((0..rows).map(|_| generator.next_gaussian()))),
        Kind::Uniform => {
            let bound = |i: usize| -> Result<Option<f64>> {
                let ColumnarValue::Scalar(value) = &operands[i] else { return exec_err!("uniform's bounds must be constants") };
                if value.is_null() {
                    return Ok(None);
                }
                match value.cast_to(&DataType::Float64)? {
                    ScalarValue::Float64(v) => Ok(v),
                    _ => Ok(None),
                }
            };
            let (Some(min), Some(max)) = (bound(0)?, bound(1)?) else {
                return Ok(ColumnarValue::Scalar(ScalarValue::try_from(result)?));
            };
            let doubles = Float64Array::from_iter_values((0..rows).map(|_| min + generator.next_double() * (max - min)));
            // Integers are truncated toward zero (Java's `toInt`), decimals rounded to their scale.
            let integral = result.is_integer();
            let doubles: Float64Array = if integral { doubles.unary(f64::trunc) } else { doubles };
            cast_with_options(&doubles, result, &CastOptions { safe: false, ..Default::default() })?
        }
        Kind::RandStr => {
            let length = match &operands[0] {
                ColumnarValue::Scalar(value) if value.is_null() => 0,
                ColumnarValue::Scalar(value) => match value.cast_to(&DataType::Int64)? {
                    ScalarValue::Int64(Some(n)) => n,
                    _ => 0,
                },
                ColumnarValue::Array(_) => return exec_err!("randstr's length must be a constant"),
            };
            let Ok(length) = usize::try_from(length) else {
                return exec_err!("[INVALID_PARAMETER_VALUE.LENGTH] randstr's length must be zero or more, got {length}");
            };
            let strings: StringArray = (0..rows).map(|_| Some(random_string(generator, length))).collect();
            Arc::new(strings)
        }
    };
    Ok(ColumnarValue::Array(array))
}

/// Spark's `ExpressionImplUtils.randStr`: each character one of 0-9, a-z, A-Z.
fn random_string(generator: &mut XorShift, length: usize) -> String {
    (0..length)
        .map(|_| {
            let v = (generator.next_int() % 62).unsigned_abs() as u8;
            char::from(match v {
                0..=9 => b'0' + v,
                10..=35 => b'a' + (v - 10),
                _ => b'A' + (v - 36),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_what_spark_draws() {
        assert_eq!(XorShift::new(0).next_double(), 0.7604953758285915);
        assert_eq!(XorShift::new(0).next_gaussian(), 1.6034991609278433);
        assert_eq!(random_string(&mut XorShift::new(0), 10), "ceV0PXaR2I");
        assert_eq!(random_string(&mut XorShift::new(-1), 1), "S");
    }
}
