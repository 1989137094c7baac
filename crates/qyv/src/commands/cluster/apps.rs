//! `qyv cluster scale|stop|start|rm|rollback APP` and `rollout
//! status|pause|resume|undo APP`: one change to the app's desired state
//! each; the scheduler and the nodes carry it out.

use anyhow::Result;

use super::{block_on, open};
use crate::cli::{ClusterAppArgs, ClusterRollbackArgs, RolloutCommand, ScaleArgs};

pub fn scale(args: ScaleArgs) -> Result<i32> {
    block_on(async {
        let state = open(&args.cluster).await?;
        let app = state.scale(&args.app, args.replicas).await?;
        println!("{}: {} replica(s) wanted", app.name, app.replicas);
        Ok(0)
    })
}

pub fn running(args: ClusterAppArgs, running: bool) -> Result<i32> {
    block_on(async {
        let state = open(&args.cluster).await?;
        let app = state.set_running(&args.app, running).await?;
        let what = if running { "starts on" } else { "stops on" };
        println!(
            "{} {what} every node that holds a replica (revision {})",
            app.name, app.revision
        );
        Ok(0)
    })
}

pub fn rm(args: ClusterAppArgs) -> Result<i32> {
    block_on(async {
        let state = open(&args.cluster).await?;
        state.remove_app(&args.app).await?;
        println!("{} removed from the cluster", args.app);
        Ok(0)
    })
}

pub fn rollback(args: ClusterRollbackArgs) -> Result<i32> {
    block_on(async {
        let state = open(&args.cluster).await?;
        let app = state.rollback(&args.app, args.to).await?;
        let to = app
            .current()
            .and_then(|r| r.rollback_of)
            .map_or_else(String::new, |n| format!(" to revision {n}"));
        println!(
            "{} rolled back{to}: now revision {}",
            app.name, app.revision
        );
        Ok(0)
    })
}

pub fn rollout(command: RolloutCommand) -> Result<i32> {
    block_on(async {
        match command {
            RolloutCommand::Status(args) => {
                let state = open(&args.cluster).await?;
                let views = state.app_views(Some(&args.app)).await?;
                let v = &views[0];
                let lines = super::show::rollout_lines(v);
                if lines.is_empty() {
                    println!(
                        "{}: no rollout running; revision {} on every replica placed",
                        v.spec.name, v.spec.revision
                    );
                }
                for line in lines {
                    println!("{}: {line}", v.spec.name);
                }
            }
            RolloutCommand::Pause(args) => {
                let state = open(&args.cluster).await?;
                state.pause_rollout(&args.app, true).await?;
                println!("{}: rollouts paused (no further step)", args.app);
            }
            RolloutCommand::Resume(args) => {
                let state = open(&args.cluster).await?;
                state.pause_rollout(&args.app, false).await?;
                println!("{}: rollouts resumed", args.app);
            }
            RolloutCommand::Undo(args) => {
                let state = open(&args.cluster).await?;
                let app = state.undo_rollout(&args.app).await?;
                let to = app
                    .current()
                    .and_then(|r| r.rollback_of)
                    .map_or_else(String::new, |n| format!(" to revision {n}"));
                println!(
                    "{}: rollout undone, back{to} on every replica: now revision {}",
                    app.name, app.revision
                );
            }
        }
        Ok(0)
    })
}
