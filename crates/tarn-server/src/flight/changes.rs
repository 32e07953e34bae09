//! Following a table over Flight: `GetFlightInfo` with the path descriptor
//! `["changes", "<table>"]` (optionally a third part `from=N`, `after=N` or `now`, the default)
//! answers with a ticket, and `DoGet` on that ticket streams the table's changes as they
//! commit, batch by batch, for as long as the client reads.

use arrow_flight::flight_descriptor::DescriptorType;
use arrow_flight::sql::Any;
use arrow_flight::{FlightDescriptor, FlightInfo, Ticket};
use prost::Message;
use serde::{Deserialize, Serialize};
use tarn_sql::FollowFrom;
use tonic::Status;

/// The type of Tarn's change-subscription tickets.
pub(crate) const TICKET_TYPE: &str = "type.googleapis.com/tarn.ChangesTicket";

/// What a subscription ticket holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChangesTicket {
    pub table: String,
    /// `None`: from now on.
    pub from: Option<i64>,
    pub after: Option<i64>,
}

impl ChangesTicket {
    pub fn follow_from(&self) -> FollowFrom {
        match (self.from, self.after) {
            (Some(v), _) => FollowFrom::Version(v),
            (None, Some(v)) => FollowFrom::After(v),
            (None, None) => FollowFrom::Now,
        }
    }

    pub fn to_ticket(&self) -> Result<Ticket, Status> {
        let value = serde_json::to_vec(self).map_err(|e| Status::internal(e.to_string()))?;
        let any = Any { type_url: TICKET_TYPE.to_string(), value: value.into() };
        Ok(Ticket::new(any.encode_to_vec()))
    }

    pub fn from_any(value: &[u8]) -> Result<Self, Status> {
        serde_json::from_slice(value).map_err(|e| Status::invalid_argument(format!("bad changes ticket: {e}")))
    }
}

/// The subscription a path descriptor asks for, if it is one.
pub(crate) fn requested(descriptor: &FlightDescriptor) -> Result<Option<ChangesTicket>, Status> {
    if descriptor.r#type != DescriptorType::Path as i32 || descriptor.path.first().map(String::as_str) != Some("changes") {
        return Ok(None);
    }
    let usage = "a changes descriptor is the path [\"changes\", \"<table>\"] with an optional third part from=N, after=N or now";
    let Some(table) = descriptor.path.get(1) else {
        return Err(Status::invalid_argument(usage));
    };
    let mut ticket = ChangesTicket { table: table.clone(), from: None, after: None };
    match descriptor.path.get(2).map(String::as_str) {
        None | Some("now") => {}
        Some(start) => {
            let number = |s: &str| s.parse::<i64>().map_err(|_| Status::invalid_argument(usage));
            if let Some(v) = start.strip_prefix("from=") {
                ticket.from = Some(number(v)?);
            } else if let Some(v) = start.strip_prefix("after=") {
                ticket.after = Some(number(v)?);
            } else {
                return Err(Status::invalid_argument(usage));
            }
        }
    }
    if descriptor.path.len() > 3 {
        return Err(Status::invalid_argument(usage));
    }
    Ok(Some(ticket))
}

/// The FlightInfo answering a subscription request.
pub(crate) fn info(schema: &arrow::datatypes::Schema, ticket: &ChangesTicket, descriptor: FlightDescriptor) -> Result<FlightInfo, Status> {
    Ok(FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(format!("encoding a schema: {e}")))?
        .with_endpoint(arrow_flight::FlightEndpoint::new().with_ticket(ticket.to_ticket()?))
        .with_descriptor(descriptor))
}
