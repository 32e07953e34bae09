//! The blocks of a Spark golden result file: `-- !query`, `-- !query schema`, `-- !query output`.

/// What Spark answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// A result set (possibly empty), one printed line per row.
    Rows(Vec<String>),
    /// An error; the exception's class.
    Error(String),
    /// A command without a result set.
    Done,
}

#[derive(Debug, Clone)]
pub struct Block {
    pub query: String,
    /// Spark's `struct<name:type,...>` of the answer.
    pub schema: String,
    pub expected: Expected,
}

pub fn parse_blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line != "-- !query" {
            continue;
        }
        let mut query = Vec::new();
        while let Some(l) = lines.next_if(|l| *l != "-- !query schema") {
            query.push(l);
        }
        lines.next();
        let mut schema = Vec::new();
        while let Some(l) = lines.next_if(|l| *l != "-- !query output") {
            schema.push(l);
        }
        lines.next();
        let mut output: Vec<String> = Vec::new();
        while let Some(l) = lines.next_if(|l| *l != "-- !query") {
            output.push(l.to_string());
        }
        // Each output is followed by two empty lines; an empty output (no rows, or a single
        // empty string) leaves one more.
        for _ in 0..2 {
            if output.last().is_some_and(|l| l.is_empty()) {
                output.pop();
            }
        }
        let expected = if schema.join("\n").trim() == "struct<>" {
            match output.iter().find(|l| !l.is_empty()) {
                None => Expected::Done,
                Some(class) => Expected::Error(class.clone()),
            }
        } else {
            Expected::Rows(output)
        };
        blocks.push(Block { query: query.join("\n"), schema: schema.join("\n"), expected });
    }
    blocks
}
