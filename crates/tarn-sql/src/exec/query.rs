//! Queries, EXPLAIN and SET: handed to DataFusion after name resolution.

use datafusion::dataframe::DataFrame;
use sqlparser::ast::Statement as SqlStatement;

use crate::error::{Result, SqlError};
use crate::output::StatementOutput;
use crate::session::Session;

pub(crate) async fn run(session: &mut Session, statement: SqlStatement) -> Result<StatementOutput> {
    let (state, plan) = session.plan_statement(statement).await?;
    let stream = DataFrame::new(state, plan).execute_stream().await?;
    Ok(StatementOutput::from_stream(stream))
}

/// `SET key = value`: DataFusion options (`datafusion.*`) change the session's engine
/// configuration; other keys (such as the Spark/Delta VACUUM safety switch) are kept for Tarn.
pub(crate) fn set(session: &mut Session, key: String, value: String) -> Result<StatementOutput> {
    if key.starts_with("datafusion.") {
        let mut config = session.base.config().clone();
        config
            .options_mut()
            .set(&key, &value)
            .map_err(|e| SqlError::user(format!("SET {key}: {e}")))?;
        session.base = datafusion::execution::SessionStateBuilder::new_from_existing(session.base.clone())
            .with_config(config)
            .build();
    } else {
        session.settings.insert(key.to_ascii_lowercase(), value.to_ascii_lowercase());
    }
    Ok(StatementOutput::empty())
}
