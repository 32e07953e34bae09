//! The dependency graph: which dataset reads which, from the queries themselves.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::PipelineConfig;
use crate::definition::{Dataset, Source};
use crate::error::{PipelineError, Result};

/// What an input names, once resolved against the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A dataset of this pipeline (its index in [`Graph::datasets`]).
    Dataset(usize),
    /// A table outside the pipeline, as written.
    External(String),
    /// Files.
    Files(String),
}

/// Datasets in an order where each comes after everything it reads.
#[derive(Debug, Clone)]
pub struct Graph {
    pub datasets: Vec<Dataset>,
    /// For each dataset, what each of its inputs resolves to (same order as `inputs`).
    pub resolved: Vec<Vec<Resolved>>,
}

/// The dataset a table name means, if it is one of the pipeline's: `name`, `schema.name` or
/// `catalog.schema.name` in the pipeline's own schema.
fn dataset_named(datasets: &[Dataset], config: &PipelineConfig, name: &str) -> Option<usize> {
    let parts: Vec<&str> = name.split('.').collect();
    let local = match parts.as_slice() {
        [n] => Some(*n),
        [s, n] if *s == config.schema => Some(*n),
        [c, s, n] if *c == config.catalog && *s == config.schema => Some(*n),
        _ => None,
    }?;
    datasets.iter().position(|d| d.name == local)
}

impl Graph {
    /// Resolve every dataset's inputs and order them; duplicates and cycles are errors.
    /// (Whether external tables exist is checked when planning, against the warehouse.)
    pub fn build(datasets: Vec<Dataset>, config: &PipelineConfig) -> Result<Self> {
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for d in &datasets {
            if let Some(first) = seen.insert(&d.name, &d.at) {
                return Err(PipelineError::Definition(format!(
                    "{}: dataset '{}' is already defined at {first}; each dataset has one definition",
                    d.at, d.name
                )));
            }
            if d.name == config.event_log {
                return Err(PipelineError::Definition(format!(
                    "{}: '{}' is the pipeline's event log table; rename the dataset or set event_log in pipeline.toml",
                    d.at, d.name
                )));
            }
        }
        let mut resolved = Vec::with_capacity(datasets.len());
        for d in &datasets {
            let mut row = Vec::new();
            for input in &d.inputs {
                row.push(match &input.source {
                    Source::Files { call, .. } => Resolved::Files(call.clone()),
                    Source::Table { name, .. } => match dataset_named(&datasets, config, name) {
                        Some(i) if datasets[i].name == d.name => {
                            return Err(PipelineError::Definition(format!(
                                "{}: dataset '{}' reads itself; a dataset reads other datasets or tables",
                                d.at, d.name
                            )));
                        }
                        Some(i) => Resolved::Dataset(i),
                        None => Resolved::External(name.clone()),
                    },
                });
            }
            resolved.push(row);
        }
        let order = topological_order(&datasets, &resolved)?;
        let mut position = vec![0; datasets.len()];
        for (new, old) in order.iter().enumerate() {
            position[*old] = new;
        }
        let mut slots: Vec<Option<(Dataset, Vec<Resolved>)>> = datasets.into_iter().zip(resolved).map(Some).collect();
        let mut out_datasets = Vec::with_capacity(slots.len());
        let mut out_resolved = Vec::with_capacity(slots.len());
        for old in order {
            let Some((d, r)) = slots[old].take() else {
                return Err(PipelineError::Internal("a dataset was ordered twice".into()));
            };
            out_datasets.push(d);
            out_resolved.push(
                r.into_iter()
                    .map(|x| match x {
                        Resolved::Dataset(i) => Resolved::Dataset(position[i]),
                        other => other,
                    })
                    .collect(),
            );
        }
        Ok(Graph { datasets: out_datasets, resolved: out_resolved })
    }

    /// Indices of the datasets `i` reads.
    pub fn upstream(&self, i: usize) -> Vec<usize> {
        let set: BTreeSet<usize> =
            self.resolved[i].iter().filter_map(|r| if let Resolved::Dataset(j) = r { Some(*j) } else { None }).collect();
        set.into_iter().collect()
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.datasets.iter().position(|d| d.name == name.to_ascii_lowercase())
    }

    /// The graph as text: one line per dataset, in run order, with what it reads.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (i, d) in self.datasets.iter().enumerate() {
            let reads: Vec<String> = d
                .inputs
                .iter()
                .zip(&self.resolved[i])
                .map(|(input, r)| {
                    let stream = matches!(input.source, Source::Files { .. } | Source::Table { stream: true, .. });
                    let name = match r {
                        Resolved::Dataset(j) => self.datasets[*j].name.clone(),
                        Resolved::External(n) => format!("{n} (table)"),
                        Resolved::Files(call) => call.clone(),
                    };
                    if stream { format!("STREAM {name}") } else { name }
                })
                .collect();
            let reads = if reads.is_empty() { "(no inputs)".to_string() } else { reads.join(", ") };
            out.push_str(&format!("{} ({}) <- {}\n", d.name, d.kind.label(), reads));
        }
        out
    }

    /// The graph in Graphviz DOT.
    pub fn to_dot(&self, pipeline: &str) -> String {
        let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut out = format!("digraph {} {{\n  rankdir=LR;\n", quote(pipeline));
        let mut sources = BTreeSet::new();
        for (i, d) in self.datasets.iter().enumerate() {
            let shape = match d.kind {
                crate::definition::DatasetKind::StreamingTable => "box",
                crate::definition::DatasetKind::MaterializedView => "box3d",
            };
            out.push_str(&format!("  {} [shape={shape}, label={}];\n", quote(&d.name), quote(&format!("{}\n{}", d.name, d.kind.label()))));
            for (input, r) in d.inputs.iter().zip(&self.resolved[i]) {
                let stream = matches!(input.source, Source::Files { .. } | Source::Table { stream: true, .. });
                let from = match r {
                    Resolved::Dataset(j) => self.datasets[*j].name.clone(),
                    Resolved::External(n) | Resolved::Files(n) => {
                        sources.insert(n.clone());
                        n.clone()
                    }
                };
                let style = if stream { " [style=bold, label=\"stream\"]" } else { "" };
                out.push_str(&format!("  {} -> {}{style};\n", quote(&from), quote(&d.name)));
            }
        }
        for s in sources {
            out.push_str(&format!("  {} [shape=note];\n", quote(&s)));
        }
        out.push_str("}\n");
        out
    }
}

/// Kahn's algorithm, ties broken by definition order; a cycle is reported with its path.
fn topological_order(datasets: &[Dataset], resolved: &[Vec<Resolved>]) -> Result<Vec<usize>> {
    let n = datasets.len();
    let deps: Vec<BTreeSet<usize>> =
        resolved.iter().map(|r| r.iter().filter_map(|x| if let Resolved::Dataset(j) = x { Some(*j) } else { None }).collect()).collect();
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let Some(next) = (0..n).find(|&i| !done[i] && deps[i].iter().all(|&j| done[j])) else {
            return Err(cycle_error(datasets, &deps, &done));
        };
        done[next] = true;
        order.push(next);
    }
    Ok(order)
}

fn cycle_error(datasets: &[Dataset], deps: &[BTreeSet<usize>], done: &[bool]) -> PipelineError {
    // Walk from any unfinished dataset along unfinished dependencies until one repeats.
    let start = (0..datasets.len()).find(|&i| !done[i]).unwrap_or(0);
    let mut path = vec![start];
    let mut current = start;
    while let Some(&next) = deps[current].iter().find(|&&j| !done[j]) {
        if let Some(pos) = path.iter().position(|&p| p == next) {
            let cycle: Vec<usize> = path[pos..].iter().copied().chain([next]).collect();
            let names: Vec<&str> = cycle.iter().map(|&i| datasets[i].name.as_str()).collect();
            let places: Vec<String> =
                cycle[..cycle.len() - 1].iter().map(|&i| format!("{} at {}", datasets[i].name, datasets[i].at)).collect();
            return PipelineError::Definition(format!(
                "the datasets read each other in a cycle: {} ({}); a pipeline's reads must form a DAG",
                names.join(" reads "),
                places.join(", ")
            ));
        }
        path.push(next);
        current = next;
    }
    PipelineError::Internal("a cycle was detected but not found".into())
}
