//! `tarn pipeline`: run, validate, graph and status of a declarative pipeline's folder.

use crate::cli::PipelineAction;

fn print_update(report: &tarn_pipeline::UpdateReport) {
    println!("update {}", report.update_id);
    println!(
        "{:<28} {:<18} {:<12} {:<10} {:>9} {:>9} {:>8} {:>11} {:>8}  message",
        "dataset", "type", "refresh", "status", "rows_in", "rows_out", "dropped", "quarantined", "version"
    );
    for d in &report.datasets {
        let version = d.version.map_or("-".to_string(), |v| v.to_string());
        println!(
            "{:<28} {:<18} {:<12} {:<10} {:>9} {:>9} {:>8} {:>11} {:>8}  {}",
            d.name,
            d.kind.label(),
            d.refresh.label(),
            d.status.label(),
            d.rows_in,
            d.rows_out,
            d.dropped,
            d.quarantined,
            version,
            // A failure's message prints once, whole, on stderr below the table.
            if d.status == tarn_pipeline::Status::Failed {
                "error below".to_string()
            } else {
                d.message.split_whitespace().collect::<Vec<_>>().join(" ")
            }
        );
        for rule in &d.rules {
            println!(
                "    expectation {:<24} {:<11} passed {:>9}  failed {:>9}",
                rule.name,
                rule.action.map_or("", |a| a.label()),
                rule.passed,
                rule.failed
            );
        }
    }
    for (name, error) in &report.errors {
        let text = error.to_string();
        if text.starts_with(name.as_str()) {
            eprintln!("error: {text}");
        } else {
            eprintln!("error: {name}: {text}");
        }
    }
}

pub(crate) async fn pipeline(mut session: tarn_sql::Session, action: PipelineAction) -> Result<(), String> {
    let load = |dir: &std::path::Path| tarn_pipeline::Pipeline::load(dir).map_err(|e| e.to_string());
    match action {
        PipelineAction::Run { dir, full_refresh, continuous, interval_ms } => {
            let pipeline = load(&dir)?;
            let full_refresh = match full_refresh.as_deref() {
                None => tarn_pipeline::FullRefresh::None,
                Some("") => tarn_pipeline::FullRefresh::All,
                Some(names) => tarn_pipeline::FullRefresh::Only(names.split(',').map(|n| n.trim().to_string()).collect()),
            };
            let options = tarn_pipeline::UpdateOptions { full_refresh };
            if continuous {
                let interval = interval_ms.map(std::time::Duration::from_millis);
                return pipeline
                    .run_continuous(&mut session, &options, interval, crate::shutdown_signal(), |report| {
                        if report.datasets.iter().any(|d| d.status != tarn_pipeline::Status::Skipped) {
                            print_update(report);
                        }
                    })
                    .await
                    .map_err(|e| e.to_string());
            }
            let report = pipeline.update(&mut session, &options).await.map_err(|e| e.to_string())?;
            print_update(&report);
            report.into_result().map(|_| ()).map_err(|e| e.to_string())
        }
        PipelineAction::Validate { dir } => {
            let pipeline = load(&dir)?;
            for (name, schema) in pipeline.validate(&mut session).await.map_err(|e| e.to_string())? {
                let columns: Vec<String> =
                    schema.fields().iter().map(|f| format!("{} {}", f.name(), tarn_sql::spark_type_name(f.data_type()))).collect();
                println!("{name}: {}", columns.join(", "));
            }
            eprintln!("pipeline {} is valid", pipeline.config.name);
            Ok(())
        }
        PipelineAction::Graph { dir, dot } => {
            let pipeline = load(&dir)?;
            if dot {
                print!("{}", pipeline.graph.to_dot(&pipeline.config.name));
            } else {
                print!("{}", pipeline.graph.to_text());
            }
            Ok(())
        }
        PipelineAction::Status { dir, limit } => {
            let pipeline = load(&dir)?;
            let (flows, rules) = pipeline.status(&mut session, limit).await.map_err(|e| e.to_string())?;
            println!("{}", arrow::util::pretty::pretty_format_batches(&flows).map_err(|e| e.to_string())?);
            if rules.iter().any(|b| b.num_rows() > 0) {
                println!("{}", arrow::util::pretty::pretty_format_batches(&rules).map_err(|e| e.to_string())?);
            }
            Ok(())
        }
    }
}
