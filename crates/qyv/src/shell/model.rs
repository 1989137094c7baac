//! The suggestion model: which command the user is likely to type next,
//! learned from the commands they ran. It is an n-gram model over command
//! lines: it counts how often a command followed the one or two commands
//! before it (and, with no context, how often it ran at all), and it blends
//! the three orders, trusting the longest context most. Counts fade with
//! age (a half-life measured in commands, not in wall time, so the same
//! history always gives the same model), which makes recent habits win.
//!
//! Everything stays on the machine. The model is bounded: at most
//! [`MAX_LINES`] distinct commands and [`MAX_GRAMS`] counts, each command at
//! most [`MAX_LINE_BYTES`]; when it grows past that the weakest entries go.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Distinct command lines kept.
pub const MAX_LINES: usize = 500;
/// Counts (of all orders) kept.
pub const MAX_GRAMS: usize = 2000;
/// Longer commands are not learned: they are rarely typed twice.
pub const MAX_LINE_BYTES: usize = 256;
/// A count loses half its weight after this many later commands.
pub const HALF_LIFE: f64 = 300.0;
/// How much each order counts when blending: two commands of context, one,
/// none.
const ORDER_WEIGHTS: [f64; 3] = [0.6, 0.3, 0.1];
const FORMAT: u32 = 1;

/// Stands for "the session just started" in a context.
const START: u32 = u32::MAX;

/// What came just before the command to predict, oldest first: the start
/// of the session, then the commands run since.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recent {
    /// At most two entries; `None` is the start of the session.
    items: Vec<Option<String>>,
}

impl Recent {
    /// The context of a session's first command.
    pub fn start() -> Recent {
        Recent { items: vec![None] }
    }

    pub fn push(&mut self, line: &str) {
        self.items.push(Some(line.to_string()));
        if self.items.len() > 2 {
            self.items.remove(0);
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Gram {
    /// Indexes into `lines` (or [`START`]), oldest first; 0 to 2 of them.
    ctx: Vec<u32>,
    next: u32,
    /// Weight at `at`, before fading.
    w: f64,
    /// The clock when it was last seen.
    at: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Model {
    format: u32,
    /// Commands learned so far; drives fading.
    clock: u64,
    lines: Vec<String>,
    grams: Vec<Gram>,
    #[serde(skip)]
    line_index: HashMap<String, u32>,
    #[serde(skip)]
    gram_index: HashMap<(Vec<u32>, u32), usize>,
}

impl Default for Model {
    fn default() -> Model {
        Model {
            format: FORMAT,
            clock: 0,
            lines: Vec::new(),
            grams: Vec::new(),
            line_index: HashMap::new(),
            gram_index: HashMap::new(),
        }
    }
}

/// A candidate next command and how likely the model finds it (0 to 1; the
/// scores of all candidates add up to at most 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub line: String,
    pub score: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("not a suggestion model: {0}")]
    Json(#[from] serde_json::Error),
    #[error("written by another version of qyv (format {found}, this one reads {FORMAT})")]
    Format { found: u32 },
    #[error("damaged: {0}")]
    Damaged(&'static str),
}

impl Model {
    pub fn from_json(text: &str) -> Result<Model, ModelError> {
        let mut m: Model = serde_json::from_str(text)?;
        if m.format != FORMAT {
            return Err(ModelError::Format { found: m.format });
        }
        let valid = |i: u32| i == START || (i as usize) < m.lines.len();
        if m.grams.iter().any(|g| {
            g.ctx.len() > 2
                || !g.ctx.iter().all(|&i| valid(i))
                || g.next == START
                || !valid(g.next)
                || !g.w.is_finite()
                || g.w < 0.0
                || g.at > m.clock
        }) {
            return Err(ModelError::Damaged("a count refers to no command"));
        }
        if m.lines.len() > MAX_LINES || m.grams.len() > MAX_GRAMS {
            return Err(ModelError::Damaged("more entries than a model keeps"));
        }
        m.reindex();
        if m.line_index.len() != m.lines.len() || m.gram_index.len() != m.grams.len() {
            return Err(ModelError::Damaged("an entry appears twice"));
        }
        Ok(m)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a model always serializes")
    }

    /// Distinct commands known.
    pub fn commands(&self) -> usize {
        self.lines.len()
    }

    /// Learns that `line` ran after `recent`. Lines too long to be worth
    /// keeping are ignored.
    pub fn observe(&mut self, recent: &Recent, line: &str) {
        if line.is_empty() || line.len() > MAX_LINE_BYTES {
            return;
        }
        let ctx = self.context(recent);
        self.clock += 1;
        let next = self.intern(line);
        for order in 0..=ctx.len() {
            let key = (ctx[ctx.len() - order..].to_vec(), next);
            let clock = self.clock;
            match self.gram_index.get(&key) {
                Some(&i) => {
                    let g = &mut self.grams[i];
                    g.w = fade(g.w, clock - g.at) + 1.0;
                    g.at = clock;
                }
                None => {
                    self.gram_index.insert(key.clone(), self.grams.len());
                    self.grams.push(Gram {
                        ctx: key.0,
                        next,
                        w: 1.0,
                        at: clock,
                    });
                }
            }
        }
        if self.grams.len() > MAX_GRAMS || self.lines.len() > MAX_LINES {
            self.prune();
        }
    }

    /// The likely next commands after `recent` that start with `prefix`
    /// (and are longer than it), best first, at most `n`.
    pub fn predict(&self, recent: &Recent, prefix: &str, n: usize) -> Vec<Candidate> {
        let ctx = self.context(recent);
        let mut scores: HashMap<u32, f64> = HashMap::new();
        let mut weight_sum = 0.0;
        for order in 0..=2 {
            if order > ctx.len() {
                break;
            }
            let key = &ctx[ctx.len() - order..];
            let followers: Vec<(u32, f64)> = self
                .grams
                .iter()
                .filter(|g| g.ctx == key)
                .map(|g| (g.next, fade(g.w, self.clock - g.at)))
                .collect();
            let total: f64 = followers.iter().map(|(_, w)| w).sum();
            if total <= 0.0 {
                continue;
            }
            let lambda = ORDER_WEIGHTS[2 - order];
            weight_sum += lambda;
            for (next, w) in followers {
                let line = &self.lines[next as usize];
                if line.len() > prefix.len() && line.starts_with(prefix) {
                    *scores.entry(next).or_default() += lambda * w / total;
                }
            }
        }
        if weight_sum == 0.0 {
            return Vec::new();
        }
        let mut out: Vec<Candidate> = scores
            .into_iter()
            .map(|(i, s)| Candidate {
                line: self.lines[i as usize].clone(),
                score: s / weight_sum,
            })
            .collect();
        out.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.line.cmp(&b.line))
        });
        out.truncate(n);
        out
    }

    /// The context as indexes. A command the model does not know (too long,
    /// or forgotten) cuts it: what came before cannot be matched.
    fn context(&self, recent: &Recent) -> Vec<u32> {
        let mut ctx = Vec::new();
        for item in &recent.items {
            let id = match item {
                None => Some(START),
                Some(line) => self.line_index.get(line).copied(),
            };
            match id {
                Some(id) => ctx.push(id),
                None => ctx.clear(),
            }
        }
        ctx
    }

    fn intern(&mut self, line: &str) -> u32 {
        if let Some(&i) = self.line_index.get(line) {
            return i;
        }
        let i = self.lines.len() as u32;
        self.lines.push(line.to_string());
        self.line_index.insert(line.to_string(), i);
        i
    }

    /// Drops the faintest counts until there is room again (a tenth below
    /// the caps, so that pruning is rare), then the commands no count
    /// mentions.
    fn prune(&mut self) {
        let clock = self.clock;
        let weight: Vec<f64> = self.grams.iter().map(|g| fade(g.w, clock - g.at)).collect();
        let mut order: Vec<usize> = (0..self.grams.len()).collect();
        order.sort_by(|&a, &b| weight[b].total_cmp(&weight[a]));
        // Commands ranked by their own (context-free) weight.
        let mut line_weight = vec![0.0; self.lines.len()];
        for (g, w) in self
            .grams
            .iter()
            .zip(&weight)
            .filter(|(g, _)| g.ctx.is_empty())
        {
            line_weight[g.next as usize] = *w;
        }
        let mut line_rank: Vec<usize> = (0..self.lines.len()).collect();
        line_rank.sort_by(|&a, &b| line_weight[b].total_cmp(&line_weight[a]));
        let mut keep_line = vec![false; self.lines.len()];
        for &i in line_rank.iter().take(MAX_LINES * 9 / 10) {
            keep_line[i] = true;
        }
        let known = |i: u32| i == START || keep_line[i as usize];
        let kept: Vec<Gram> = order
            .into_iter()
            .map(|i| &self.grams[i])
            .filter(|g| known(g.next) && g.ctx.iter().all(|&c| known(c)))
            .take(MAX_GRAMS * 9 / 10)
            .cloned()
            .collect();
        // Renumber the commands that are still mentioned.
        let mut used = vec![false; self.lines.len()];
        for g in &kept {
            used[g.next as usize] = true;
            for &c in g.ctx.iter().filter(|&&c| c != START) {
                used[c as usize] = true;
            }
        }
        let mut renumber = vec![START; self.lines.len()];
        let mut lines = Vec::new();
        for (i, line) in self.lines.drain(..).enumerate() {
            if used[i] {
                renumber[i] = lines.len() as u32;
                lines.push(line);
            }
        }
        let map = |i: u32| {
            if i == START {
                START
            } else {
                renumber[i as usize]
            }
        };
        self.lines = lines;
        self.grams = kept
            .into_iter()
            .map(|g| Gram {
                ctx: g.ctx.iter().map(|&c| map(c)).collect(),
                next: map(g.next),
                ..g
            })
            .collect();
        self.reindex();
    }

    fn reindex(&mut self) {
        self.line_index = self
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| (l.clone(), i as u32))
            .collect();
        self.gram_index = self
            .grams
            .iter()
            .enumerate()
            .map(|(i, g)| ((g.ctx.clone(), g.next), i))
            .collect();
    }
}

/// `w` after `age` more commands.
fn fade(w: f64, age: u64) -> f64 {
    w * 0.5f64.powf(age as f64 / HALF_LIFE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Learns `lines` as one session.
    fn learn(model: &mut Model, lines: &[&str]) {
        let mut recent = Recent::start();
        for line in lines {
            model.observe(&recent, line);
            recent.push(line);
        }
    }

    fn after(model: &Model, lines: &[&str], prefix: &str) -> Vec<String> {
        let mut recent = Recent::start();
        for l in lines {
            recent.push(l);
        }
        model
            .predict(&recent, prefix, 10)
            .into_iter()
            .map(|c| c.line)
            .collect()
    }

    #[test]
    fn predicts_what_followed_the_same_commands() {
        let mut m = Model::default();
        for _ in 0..3 {
            learn(&mut m, &["validate app.qyv", "run app.qyv", "cache ls"]);
        }
        learn(&mut m, &["inspect x.wasm", "run app.qyv", "inspect x.wasm"]);
        assert_eq!(after(&m, &["validate app.qyv"], "")[0], "run app.qyv");
        assert_eq!(
            after(&m, &["validate app.qyv", "run app.qyv"], "")[0],
            "cache ls"
        );
        // The two-command context decides when it knows better.
        assert_eq!(
            after(&m, &["inspect x.wasm", "run app.qyv"], "")[0],
            "inspect x.wasm"
        );
        // At the start of a session, what sessions began with.
        assert_eq!(after(&m, &[], "")[0], "validate app.qyv");
    }

    #[test]
    fn scores_are_a_distribution() {
        let mut m = Model::default();
        learn(&mut m, &["a", "b", "a", "c", "a", "b"]);
        let recent = {
            let mut r = Recent::start();
            r.push("a");
            r
        };
        let all = m.predict(&recent, "", 10);
        let sum: f64 = all.iter().map(|c| c.score).sum();
        assert!(sum <= 1.0 + 1e-9 && sum > 0.99, "{sum}");
        assert!(all.windows(2).all(|w| w[0].score >= w[1].score));
        assert_eq!(all[0].line, "b");
    }

    #[test]
    fn prefix_filters_and_the_typed_line_itself_is_not_offered() {
        let mut m = Model::default();
        learn(&mut m, &["run a.qyv", "run b.qyv", "ls", "run"]);
        let got = after(&m, &["ls"], "run ");
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|l| l.starts_with("run ")));
        assert!(after(&m, &["ls"], "run b.qyv").is_empty());
        assert!(after(&m, &[], "zzz").is_empty());
    }

    #[test]
    fn recent_habits_win_over_old_ones() {
        let mut m = Model::default();
        for _ in 0..20 {
            learn(&mut m, &["ls", "run old.qyv"]);
        }
        for _ in 0..20 {
            learn(&mut m, &["pwd"]);
        }
        for _ in 0..5 {
            learn(&mut m, &["ls", "run new.qyv"]);
        }
        // 20 old against 5 new: only fading lets the new habit lead.
        let top = &after(&m, &["ls"], "")[0];
        assert_eq!(top, "run old.qyv", "a long habit still leads after a while");
        for _ in 0..600 {
            learn(&mut m, &["pwd"]);
        }
        for _ in 0..5 {
            learn(&mut m, &["ls", "run new.qyv"]);
        }
        assert_eq!(after(&m, &["ls"], "")[0], "run new.qyv");
    }

    #[test]
    fn stays_bounded_and_keeps_the_strong_entries() {
        let mut m = Model::default();
        let mut recent = Recent::start();
        for i in 0..5000 {
            // One habit repeated among thousands of one-off commands.
            let line = if i % 4 == 0 {
                "run app.qyv".to_string()
            } else {
                format!("inspect file{i}.wasm")
            };
            m.observe(&recent, &line);
            recent.push(&line);
            assert!(m.lines.len() <= MAX_LINES && m.grams.len() <= MAX_GRAMS);
        }
        assert_eq!(after(&m, &[], "run")[0], "run app.qyv");
        let json = m.to_json();
        assert!(json.len() < 200_000, "{} bytes", json.len());
        let back = Model::from_json(&json).unwrap();
        assert_eq!(back.lines, m.lines);
        assert_eq!(back.grams.len(), m.grams.len());
        for (a, b) in back.grams.iter().zip(&m.grams) {
            assert_eq!((&a.ctx, a.next, a.at), (&b.ctx, b.next, b.at));
            assert!((a.w - b.w).abs() < 1e-9);
        }
        assert_eq!(after(&back, &[], "")[0], after(&m, &[], "")[0]);
    }

    #[test]
    fn long_and_empty_lines_are_not_learned() {
        let mut m = Model::default();
        learn(&mut m, &["", &"x".repeat(MAX_LINE_BYTES + 1)]);
        assert_eq!(m.commands(), 0);
    }

    #[test]
    fn refuses_damaged_files() {
        let mut m = Model::default();
        learn(&mut m, &["a", "b"]);
        let good = m.to_json();
        assert!(Model::from_json(&good).is_ok());
        for (bad, says) in [
            ("{".to_string(), "not a suggestion model"),
            (
                good.replace("\"format\":1", "\"format\":9"),
                "another version",
            ),
            (
                good.replace("\"next\":1", "\"next\":7"),
                "refers to no command",
            ),
            (
                good.replace("\"lines\":[\"a\",\"b\"]", "\"lines\":[\"a\",\"a\"]"),
                "appears twice",
            ),
        ] {
            let err = Model::from_json(&bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
