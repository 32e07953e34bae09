//! What a Postgres connection knows about itself — its user, current schema and settings —
//! shared with the SQL functions that report it: `current_setting`, `current_schema`,
//! `current_schemas`, `current_user` / `session_user` / `user`. (`datafusion-pg-catalog`'s
//! own versions answer `postgres` and `public` for everyone.)

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use arrow::array::{Array, ArrayRef, BooleanArray, ListBuilder, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility};
use datafusion::scalar::ScalarValue;

#[derive(Debug, Default)]
struct Info {
    user: String,
    schema: String,
    settings: BTreeMap<String, String>,
}

/// One connection's user, current schema and settings; clones share them.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnectionInfo(Arc<RwLock<Info>>);

impl PartialEq for ConnectionInfo {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ConnectionInfo {}

impl std::hash::Hash for ConnectionInfo {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.0).hash(state);
    }
}

impl ConnectionInfo {
    pub fn new(user: &str, schema: &str, settings: BTreeMap<String, String>) -> Self {
        Self(Arc::new(RwLock::new(Info { user: user.to_string(), schema: schema.to_string(), settings })))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Info> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Info> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }

    /// A setting as `SHOW` and `current_setting` report it (`search_path` is the schema
    /// unqualified names resolve in, quoted as Postgres quotes identifiers).
    pub fn get(&self, name: &str) -> Option<String> {
        let info = self.read();
        if name == "search_path" {
            return Some(quote_ident(&info.schema));
        }
        info.settings.get(name).cloned()
    }

    fn schema(&self) -> String {
        self.read().schema.clone()
    }

    pub fn set(&self, name: &str, value: &str) {
        self.write().settings.insert(name.to_string(), value.to_string());
    }

    pub fn set_schema(&self, schema: &str) {
        self.write().schema = schema.to_string();
    }

    /// Every setting, by name.
    pub fn all(&self) -> Vec<(String, String)> {
        let info = self.read();
        let mut all: BTreeMap<String, String> = info.settings.clone();
        all.insert("search_path".into(), quote_ident(&info.schema));
        all.into_iter().collect()
    }

    /// The functions above, bound to this connection.
    pub fn functions(&self) -> Vec<ScalarUDF> {
        let one_text = TypeSignature::Exact(vec![DataType::Utf8]);
        let text_and_flag = TypeSignature::Exact(vec![DataType::Utf8, DataType::Boolean]);
        let mut out = vec![
            self.function("current_setting", Kind::Setting, vec![one_text, text_and_flag]),
            self.function("current_schema", Kind::Schema, vec![TypeSignature::Nullary]),
            self.function("current_schemas", Kind::Schemas, vec![TypeSignature::Exact(vec![DataType::Boolean])]),
        ];
        for name in ["current_user", "session_user", "user", "current_role"] {
            out.push(self.function(name, Kind::User, vec![TypeSignature::Nullary]));
        }
        out
    }

    fn function(&self, name: &str, kind: Kind, signatures: Vec<TypeSignature>) -> ScalarUDF {
        ScalarUDF::from(SessionFunction {
            name: name.to_string(),
            signature: Signature::one_of(signatures, Volatility::Stable),
            kind,
            info: self.clone(),
        })
    }
}

/// `name` as Postgres' `quote_ident` writes it (the same function queries call, so a
/// search_path entry compares equal to `quote_ident(table_schema)`).
fn quote_ident(name: &str) -> String {
    static QUOTE_IDENT: std::sync::OnceLock<ScalarUDF> = std::sync::OnceLock::new();
    let udf = QUOTE_IDENT.get_or_init(datafusion_pg_catalog::pg_catalog::quote_ident_udf::create_quote_ident_udf);
    let args = ScalarFunctionArgs {
        args: vec![ColumnarValue::Scalar(ScalarValue::Utf8(Some(name.to_string())))],
        arg_fields: vec![Arc::new(Field::new("name", DataType::Utf8, true))],
        number_rows: 1,
        return_field: Arc::new(Field::new("quoted", DataType::Utf8, true)),
        config_options: Arc::new(datafusion::config::ConfigOptions::default()),
    };
    let quoted = udf.invoke_with_args(args).and_then(|v| v.to_array(1)).ok();
    quoted
        .as_ref()
        .and_then(|a| a.as_any().downcast_ref::<StringArray>())
        .filter(|a| a.len() == 1 && a.is_valid(0))
        .map(|a| a.value(0).to_string())
        .unwrap_or_else(|| name.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Setting,
    Schema,
    Schemas,
    User,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SessionFunction {
    name: String,
    signature: Signature,
    kind: Kind,
    info: ConnectionInfo,
}

fn schemas_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

impl ScalarUDFImpl for SessionFunction {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType, DataFusionError> {
        Ok(match self.kind {
            Kind::Schemas => schemas_type(),
            _ => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue, DataFusionError> {
        let rows = args.number_rows;
        match self.kind {
            Kind::User => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(self.info.read().user.clone())))),
            Kind::Schema => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(self.info.schema())))),
            Kind::Setting => {
                let names = args.args[0].to_array(rows)?;
                let names = names
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| DataFusionError::Internal("current_setting takes text".into()))?;
                let missing_ok = match args.args.get(1) {
                    Some(flag) => {
                        let flags = flag.to_array(rows)?;
                        let flags = flags
                            .as_any()
                            .downcast_ref::<BooleanArray>()
                            .ok_or_else(|| DataFusionError::Internal("current_setting's flag is boolean".into()))?;
                        (0..rows).map(|i| flags.is_valid(i) && flags.value(i)).collect()
                    }
                    None => vec![false; rows],
                };
                let mut out = StringBuilder::new();
                for (i, name) in names.iter().enumerate() {
                    match name.map(|n| n.to_ascii_lowercase()) {
                        None => out.append_null(),
                        Some(name) => match self.info.get(&name) {
                            Some(value) => out.append_value(value),
                            None if missing_ok[i] => out.append_null(),
                            None => {
                                return Err(DataFusionError::Execution(format!("unrecognized configuration parameter \"{name}\"")));
                            }
                        },
                    }
                }
                Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
            }
            Kind::Schemas => {
                let flags = args.args[0].to_array(rows)?;
                let flags = flags
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .ok_or_else(|| DataFusionError::Internal("current_schemas takes a boolean".into()))?;
                let schema = self.info.schema();
                let mut out = ListBuilder::new(StringBuilder::new());
                for i in 0..rows {
                    // Postgres lists the implicitly searched pg_catalog first.
                    if flags.is_valid(i) && flags.value(i) {
                        out.values().append_value("pg_catalog");
                    }
                    out.values().append_value(&schema);
                    out.append(true);
                }
                Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
            }
        }
    }
}
