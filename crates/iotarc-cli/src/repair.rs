//! `iotarc repair`: the explicit recovery step that writers and replay refuse to take
//! on their own (archive.md §4.3, wal.md §9).

use crate::usage;
use anyhow::Result;
use clap::Args;
use iotarc::archive::manifest::{Dedup, PartitionUnit};
use iotarc::archive::repair::{self, RebuildOptions};
use std::path::PathBuf;
use std::process::ExitCode;

/// What `iotarc repair` can rebuild, and what it never does.
#[derive(Args)]
#[command(after_help = "\
What it rebuilds:
  --manifest  a MANIFEST that is missing, corrupt, or older than the archive's files (a
              restored backup, a filesystem rollback), from the segments' own footers;
              the old MANIFEST is first copied to ARCHIVE/damaged/
  --index     the INDEX, from the segments
  --wal       damaged WAL files: each is copied to ARCHIVE/damaged/ first, every valid
              record is kept, and unreadable records become empty batches
What it never does: delete a segment, or cut a WAL record without keeping a copy. A
segment it cannot read is reported and left where it is.
Run with --dry-run first to see the plan.")]
pub struct RepairArgs {
    /// Archive directory.
    archive: PathBuf,
    /// Rebuild the manifest from the segments.
    #[arg(long)]
    manifest: bool,
    /// Rebuild the index from the segments.
    #[arg(long)]
    index: bool,
    /// Salvage damaged WAL files.
    #[arg(long)]
    wal: bool,
    /// Print what would be done; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// With --manifest, when no readable manifest says it: the partition unit (default:
    /// inferred from the partition directories).
    #[arg(long, value_parser = ["hour", "day", "week", "month", "year"])]
    partition: Option<String>,
    /// With --manifest, when no readable manifest says it: the dedup policy.
    #[arg(long, value_parser = ["last", "first", "keep-all"])]
    dedup: Option<String>,
}

pub fn repair(a: RepairArgs) -> Result<ExitCode> {
    if !(a.manifest || a.index || a.wal) {
        return Err(usage(
            "say what to repair: --manifest, --index and/or --wal (see iotarc repair --help)",
        ));
    }
    // "would keep" on a dry run, "kept" otherwise.
    let verb = |dry: &'static str, done: &'static str| if a.dry_run { dry } else { done };
    if a.wal {
        let files = repair::repair_wal(&a.archive, a.dry_run)?;
        if files.is_empty() {
            println!("wal: every file is sound; nothing to do");
        }
        for f in files {
            let p = &f.plan;
            let lost: u64 = p.lost_seqs.iter().map(|r| r.end - r.start).sum();
            let dropped: usize = p.dropped.iter().map(|r| r.len()).sum();
            println!(
                "wal: {}: {} {} record(s); {} {lost} unreadable record(s) by empty batches{}; {} {dropped} damaged byte(s){}",
                f.file.display(),
                verb("would keep", "kept"),
                p.kept.len(),
                verb("would replace", "replaced"),
                if lost > 0 {
                    format!(
                        " (seqs {}: their points are lost)",
                        p.lost_seqs
                            .iter()
                            .map(|r| format!("{}..{}", r.start, r.end))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                } else {
                    String::new()
                },
                verb("would drop", "dropped"),
                if p.header_damaged {
                    verb("; would rewrite the damaged header", "; rewrote the damaged header")
                } else {
                    ""
                }
            );
            if let Some(c) = &f.copy {
                println!("wal: original kept at {}", c.display());
            }
        }
    }
    if a.manifest {
        let opts = RebuildOptions {
            partition: a
                .partition
                .as_deref()
                .map(|p| PartitionUnit::parse(p).ok_or_else(|| usage("bad --partition")))
                .transpose()?,
            dedup: a
                .dedup
                .as_deref()
                .map(|d| Dedup::parse(d).ok_or_else(|| usage("bad --dedup")))
                .transpose()?,
            dry_run: a.dry_run,
        };
        let r = repair::rebuild_manifest(&a.archive, &opts)?;
        if let Some(why) = &r.old_unreadable {
            println!("manifest: the old one is unusable ({why})");
        }
        let m = &r.manifest;
        println!(
            "manifest: {} {} segment(s) ({} partition, dedup {}) at generation {}",
            verb("would list", "listed"),
            m.segments.len(),
            m.partition.name(),
            m.dedup.name(),
            m.generation
        );
        for p in &r.adopted {
            println!(
                "manifest: {} {p} (not listed before)",
                verb("would adopt", "adopted")
            );
        }
        for p in &r.missing {
            println!(
                "manifest: {} the entry of {p} (its file is missing)",
                verb("would drop", "dropped")
            );
        }
        for p in &r.leftovers {
            println!(
                "manifest: {p} is an input a committed compaction dropped (archive.md L4); not listed, the next writer deletes it"
            );
        }
        for (p, why) in &r.unreadable {
            println!("manifest: {p} is not readable ({why}); left where it is, not listed");
        }
        for n in &r.notes {
            println!("manifest: note: {n}");
        }
        if let Some(c) = &r.old_copy {
            println!("manifest: old MANIFEST kept at {}", c.display());
        }
    }
    if a.index {
        for line in repair::rebuild_index(&a.archive, a.dry_run)? {
            println!("index: {line}");
        }
        if !a.dry_run {
            println!("index: rebuilt");
        }
    }
    Ok(ExitCode::SUCCESS)
}
