//! `enkaku audit …`: the operator's and auditor's side of the audit trail (docs/audit.md).
//! A module of the binary, not of the library.

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use enkaku_api::{Config, Stack};
use enkaku_domain::ids::{AppointmentId, StaffId};
use enkaku_infra::audit::access::{AccessFilter, MAX_PAGE};
use enkaku_infra::audit::checkpoint::{self, Checkpoint};
use enkaku_infra::audit::verify::{self, Problem};
use enkaku_infra::audit::{AuditTrail, Log};
use std::io::Write;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Fold both logs into their Merkle trees, then print a signed checkpoint of each, one
    /// JSON object a line (and keep a copy in the data directory). Keep the output where the
    /// server cannot write: it pins the logs as they stand now.
    Checkpoint,
    /// Recompute both trees from the stored records and hold them against the stored trees
    /// and the checkpoints: the data directory's and each `--checkpoint FILE`. Exits 1 naming
    /// the first position that differs.
    Verify {
        /// A file of checkpoints (as `audit checkpoint` prints them, or one JSON object).
        #[arg(long)]
        checkpoint: Vec<PathBuf>,
        /// Print each log's report as a JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Print the access log of every clinic, and the sign-ins of addresses no one has.
    Access {
        /// Records at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<DateTime<Utc>>,
        /// Records before this time (RFC 3339).
        #[arg(long)]
        until: Option<DateTime<Utc>>,
        /// One staff member's records.
        #[arg(long)]
        staff: Option<uuid::Uuid>,
        /// The records about one appointment.
        #[arg(long)]
        appointment: Option<uuid::Uuid>,
        /// One JSON object a line instead of columns.
        #[arg(long)]
        json: bool,
    },
}

/// Run `command`; `Ok(false)` when verification found a problem.
pub async fn run(config: &Config, command: AuditCommand) -> anyhow::Result<bool> {
    // The servers' key, never a new one made here: its checkpoints would be trusted nowhere.
    anyhow::ensure!(
        config.audit_signing_key.is_some() || config.data_dir.join(checkpoint::KEY_FILE).exists(),
        "no audit signing key: set ENKAKU_AUDIT_SIGNING_KEY as the servers have it, or run in their data directory"
    );
    let stack = Stack::open(config).await?;
    let trail = AuditTrail::open(
        stack.db.clone(),
        config.audit_signing_key.as_deref(),
        &config.data_dir,
    )?;
    let mut out = std::io::stdout().lock();
    match command {
        AuditCommand::Checkpoint => {
            for log in Log::ALL {
                let signed = trail.checkpoint(log, Utc::now()).await?;
                checkpoint::save(trail.dir(), &signed)?;
                writeln!(out, "{}", serde_json::to_string(&signed)?)?;
            }
            Ok(true)
        }
        AuditCommand::Verify { checkpoint, json } => {
            let mut checkpoints: Vec<Checkpoint> = checkpoint::saved(trail.dir())?;
            for path in &checkpoint {
                checkpoints.extend(
                    checkpoint::read(path).with_context(|| format!("cannot read {}", path.display()))?,
                );
            }
            let keys = trail.trusted_keys()?;
            let mut intact = true;
            for log in Log::ALL {
                let report = verify::verify(&stack.db, log, &checkpoints, &keys).await?;
                intact &= report.problem.is_none();
                if json {
                    writeln!(out, "{}", serde_json::to_string(&report)?)?;
                    continue;
                }
                let verdict = match &report.problem {
                    None => "intact".to_owned(),
                    Some(problem) => format!("TAMPERED: {problem}{}", explained(&stack, log, problem).await?),
                };
                writeln!(
                    out,
                    "{}: {} records, tree of {}, root {}, {} checkpoints: {verdict}",
                    log.name(),
                    report.records,
                    report.tree_size,
                    report.root,
                    report.checkpoints
                )?;
            }
            Ok(intact)
        }
        AuditCommand::Access {
            since,
            until,
            staff,
            appointment,
            json,
        } => {
            let log = enkaku_infra::audit::access::AccessLog::open(stack.db.clone());
            let mut filter = AccessFilter {
                clinic_id: None,
                staff_id: staff.map(StaffId),
                appointment_id: appointment.map(AppointmentId),
                since,
                until,
                after: 0,
            };
            loop {
                let page = log.list(&filter, MAX_PAGE).await?;
                let Some(last) = page.last() else {
                    return Ok(true);
                };
                filter.after = last.position;
                for record in &page {
                    if json {
                        writeln!(out, "{}", serde_json::to_string(record)?)?;
                    } else {
                        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
                        writeln!(
                            out,
                            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                            record.position,
                            record.at,
                            dash(&record.clinic_id),
                            dash(&record.staff_id),
                            record.action,
                            record.outcome,
                            record.resource,
                            dash(&record.appointment_id),
                            record.client
                        )?;
                    }
                }
            }
        }
    }
}

/// What the store itself says about a changed event: `enkaku privacy migrate` rewrote it in
/// place (docs/audit.md, "Rewrites by enkaku itself").
async fn explained(stack: &Stack, log: Log, problem: &Problem) -> anyhow::Result<String> {
    let Problem::Changed { position } = problem else {
        return Ok(String::new());
    };
    if log != Log::Events {
        return Ok(String::new());
    }
    Ok(enkaku_infra::privacy::rewritten_at(&stack.db, *position)
        .await?
        .map(|at| {
            format!(
                " (event_rewrites says `enkaku privacy migrate` rewrote it at {})",
                at.to_rfc3339()
            )
        })
        .unwrap_or_default())
}
