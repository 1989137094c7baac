//! "Did you mean" for misspelt field names and keyword values.

/// The candidate closest to `input`, if it is close enough to be a likely
/// typo rather than a different word.
///
/// Case is ignored when measuring, so `Read` suggests `read`. The allowed
/// distance grows with the word's length: one edit for short words, about one
/// in three characters for longer ones, which catches `entrypont` and `reed`
/// without offering `full` for `false`.
pub fn did_you_mean<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let input_lower = input.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for &candidate in candidates {
        if candidate == input {
            continue;
        }
        let candidate_lower = candidate.to_lowercase();
        let mut distance = edit_distance(&input_lower, &candidate_lower);
        let longest = input.chars().count().max(candidate.chars().count());
        let allowed = (longest / 3).max(1);
        // A cut-short word (`mem` for `memfs`) is a likely slip too, however
        // many letters are missing.
        if input_lower.chars().count() >= 3 && candidate_lower.starts_with(&input_lower) {
            distance = distance.min(allowed);
        }
        if distance <= allowed && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// Optimal string alignment distance: Levenshtein plus swaps of two adjacent
/// characters, since `raed` for `read` is one slip of the fingers, not two.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Names are short; guard anyway so a pasted megabyte is not quadratic.
    if a.len() > 256 || b.len() > 256 {
        return a.len().max(b.len());
    }
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for (i, row) in d.chunks_mut(width).enumerate() {
        row[0] = i;
    }
    for (j, cell) in d.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut value = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                value = value.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = value;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("reed", "read"), 1);
        assert_eq!(edit_distance("raed", "read"), 1);
        assert_eq!(edit_distance("entrypont", "entrypoint"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions() {
        let fs = ["none", "read", "write", "full"];
        assert_eq!(did_you_mean("reed", &fs), Some("read"));
        assert_eq!(did_you_mean("Read", &fs), Some("read"));
        assert_eq!(did_you_mean("wirte", &fs), Some("write"));
        assert_eq!(did_you_mean("false", &fs), None);
        assert_eq!(did_you_mean("xyz", &fs), None);
        assert_eq!(
            did_you_mean("mem", &["dir", "memfs", "netfs"]),
            Some("memfs")
        );
        assert_eq!(
            did_you_mean("permission", &["permissions"]),
            Some("permissions")
        );
        let top = ["name", "version", "entrypoint", "permissions"];
        assert_eq!(did_you_mean("entrypont", &top), Some("entrypoint"));
        assert_eq!(did_you_mean("permisions", &top), Some("permissions"));
        assert_eq!(did_you_mean("nmae", &top), Some("name"));
    }
}
