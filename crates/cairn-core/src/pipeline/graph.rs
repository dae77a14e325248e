//! The stage graph: a stage depends on another when one of its deps is, contains, or lies inside
//! one of the other's outs. Validated here: no two outs overlap, no cycles.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::Stage;

/// Edges between stages (by index) and a topological order.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    upstream: Vec<Vec<usize>>,
    downstream: Vec<Vec<usize>>,
    order: Vec<usize>,
}

/// Whether one path is the other or lies inside it.
pub fn overlaps(a: &str, b: &str) -> bool {
    inside(a, b) || inside(b, a)
}

/// Whether `a` is `b` or lies inside it.
pub fn inside(a: &str, b: &str) -> bool {
    a == b || (a.len() > b.len() && a.starts_with(b) && a.as_bytes()[b.len()] == b'/')
}

/// The folders a `/`-separated path lies in, innermost last: `a/b/c` gives `a`, `a/b`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// The first path in `paths` (in sorted order) that lies inside `dir`, with its value.
fn first_inside<'a>(paths: &BTreeMap<&'a str, usize>, dir: &str) -> Option<(&'a str, usize)> {
    let prefix = format!("{dir}/");
    paths
        .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
        .next()
        .filter(|(p, _)| p.starts_with(&prefix))
        .map(|(&p, &k)| (p, k))
}

impl Graph {
    /// Builds and validates the graph of `stages`. Near-linear in the number of paths: outs are
    /// looked up by path and by prefix, never compared pairwise.
    pub fn build(stages: &[Stage]) -> Result<Graph, String> {
        // Outs may not overlap, within a stage or across stages. Each out is checked against the
        // outs before it; `outs` numbers them in file order.
        let outs: Vec<(usize, &str)> = stages
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.outs.iter().map(move |o| (i, o.path.as_str())))
            .collect();
        let mut by_path: BTreeMap<&str, usize> = BTreeMap::new();
        for (k, &(j, q)) in outs.iter().enumerate() {
            if let Some(&a) = by_path.get(q) {
                let i = outs[a].0;
                return Err(if i == j {
                    format!("stage '{}' lists '{q}' twice", stages[i].name)
                } else {
                    format!(
                        "stages '{}' and '{}' both write '{q}'; an out belongs to one stage",
                        stages[i].name, stages[j].name
                    )
                });
            }
            let earlier_outer = ancestors(q).find_map(|a| by_path.get(a).copied());
            let earlier_inner = first_inside(&by_path, q).map(|(_, a)| a);
            if let Some(a) = earlier_outer.or(earlier_inner) {
                let (i, p) = outs[a];
                let ((inner, si), (outer, so)) = if inside(p, q) {
                    ((p, i), (q, j))
                } else {
                    ((q, j), (p, i))
                };
                return Err(format!(
                    "out '{inner}' of stage '{}' lies inside out '{outer}' of stage '{}'; outs may not overlap",
                    stages[si].name, stages[so].name
                ));
            }
            by_path.insert(q, k);
        }

        let n = stages.len();
        let mut upstream = vec![Vec::new(); n];
        let mut downstream = vec![Vec::new(); n];
        // `linked[j] == i + 1`: stage j is already upstream of stage i.
        let mut linked = vec![0usize; n];
        let mut hits = Vec::new();
        for (i, stage) in stages.iter().enumerate() {
            for dep in &stage.deps {
                // The outs the dep is, lies in, or holds, in file order.
                hits.clear();
                hits.extend(by_path.get(dep.as_str()).copied());
                hits.extend(ancestors(dep).filter_map(|a| by_path.get(a).copied()));
                let prefix = format!("{dep}/");
                hits.extend(
                    by_path
                        .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
                        .take_while(|(p, _)| p.starts_with(&prefix))
                        .map(|(_, &k)| k),
                );
                hits.sort_unstable();
                for &k in &hits {
                    let (j, out) = outs[k];
                    if i == j {
                        return Err(format!(
                            "stage '{}' depends on its own out '{out}'",
                            stage.name
                        ));
                    }
                    if linked[j] != i + 1 {
                        linked[j] = i + 1;
                        upstream[i].push(j);
                        downstream[j].push(i);
                    }
                }
            }
        }

        // Kahn's algorithm, taking ready stages in file order so the order is stable.
        let mut indegree: Vec<usize> = upstream.iter().map(Vec::len).collect();
        let mut order = Vec::with_capacity(n);
        let mut ready: std::collections::BTreeSet<usize> =
            (0..n).filter(|&i| indegree[i] == 0).collect();
        while let Some(i) = ready.pop_first() {
            order.push(i);
            for &d in &downstream[i] {
                indegree[d] -= 1;
                if indegree[d] == 0 {
                    ready.insert(d);
                }
            }
        }
        if order.len() < n {
            let cycle = find_cycle(&upstream, &indegree);
            let names: Vec<&str> = cycle.iter().map(|&i| stages[i].name.as_str()).collect();
            return Err(format!("the stages form a cycle: {}", names.join(" → ")));
        }
        Ok(Graph {
            upstream,
            downstream,
            order,
        })
    }

    /// Stages whose outs stage `i` reads.
    pub fn upstream(&self, i: usize) -> &[usize] {
        &self.upstream[i]
    }

    /// Stages that read stage `i`'s outs.
    pub fn downstream(&self, i: usize) -> &[usize] {
        &self.downstream[i]
    }

    /// All stages in an order where each comes after its upstream.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// Every stage stage `i` depends on, directly or not.
    pub fn ancestors(&self, i: usize) -> Vec<usize> {
        walk(&self.upstream, i)
    }

    /// Every stage that depends on stage `i`, directly or not.
    pub fn descendants(&self, i: usize) -> Vec<usize> {
        walk(&self.downstream, i)
    }
}

fn walk(edges: &[Vec<usize>], start: usize) -> Vec<usize> {
    let mut seen = vec![false; edges.len()];
    let mut stack = edges[start].clone();
    let mut out = Vec::new();
    while let Some(i) = stack.pop() {
        if !seen[i] {
            seen[i] = true;
            out.push(i);
            stack.extend(&edges[i]);
        }
    }
    out
}

/// One cycle among the stages Kahn's algorithm could not order (those with indegree left).
fn find_cycle(upstream: &[Vec<usize>], indegree: &[usize]) -> Vec<usize> {
    let Some(start) = (0..upstream.len()).find(|&i| indegree[i] > 0) else {
        return Vec::new();
    };
    // Follow upstream edges inside the unordered set until a stage repeats.
    let mut path = vec![start];
    let mut on_path = vec![None; upstream.len()];
    on_path[start] = Some(0);
    let mut cur = start;
    loop {
        let Some(&next) = upstream[cur].iter().find(|&&u| indegree[u] > 0) else {
            return path;
        };
        if let Some(pos) = on_path[next] {
            let mut cycle: Vec<usize> = path[pos..].to_vec();
            cycle.reverse();
            cycle.push(cycle[0]);
            return cycle;
        }
        on_path[next] = Some(path.len());
        path.push(next);
        cur = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Out, OutKind};

    fn stage(name: &str, deps: &[&str], outs: &[&str]) -> Stage {
        Stage {
            name: name.into(),
            desc: None,
            cmd: vec!["true".into()],
            wdir: String::new(),
            deps: deps.iter().map(|s| s.to_string()).collect(),
            params: vec![],
            outs: outs
                .iter()
                .map(|p| Out {
                    path: p.to_string(),
                    cache: true,
                    persist: false,
                    kind: OutKind::Out,
                    push: true,
                    remote: None,
                })
                .collect(),
            frozen: false,
            always_changed: false,
        }
    }

    #[test]
    fn orders_by_dependency_and_file_order() {
        let stages = vec![
            stage("c", &["b/x"], &["c"]),
            stage("a", &[], &["a"]),
            stage("b", &["a"], &["b"]),
        ];
        let g = Graph::build(&stages).unwrap();
        assert_eq!(g.order(), &[1, 2, 0]);
        assert_eq!(g.ancestors(0).len(), 2);
        assert_eq!(g.descendants(1).len(), 2);
    }

    #[test]
    fn names_the_stages_of_a_cycle() {
        let stages = vec![
            stage("a", &["c"], &["a"]),
            stage("b", &["a"], &["b"]),
            stage("c", &["b"], &["c"]),
        ];
        let err = Graph::build(&stages).unwrap_err();
        assert!(
            err.contains("cycle") && err.contains('a') && err.contains('b') && err.contains('c'),
            "{err}"
        );
    }

    #[test]
    fn a_dep_links_the_outs_it_is_holds_or_lies_in_in_file_order() {
        let stages = vec![
            stage("m2", &[], &["models/b"]),
            stage("m1", &[], &["models/a"]),
            stage("d", &[], &["data"]),
            stage("other", &[], &["models-x"]),
            stage("all", &["models", "data/in.csv", "models/a"], &["report"]),
        ];
        let g = Graph::build(&stages).unwrap();
        assert_eq!(g.upstream(4), &[0, 1, 2]);
        assert_eq!(g.downstream(1), &[4]);
        let err = Graph::build(&[stage("a", &["x"], &["x/y"])]).unwrap_err();
        assert!(err.contains("depends on its own out 'x/y'"), "{err}");
    }

    #[test]
    fn refuses_overlapping_outs() {
        let err = Graph::build(&[stage("a", &[], &["d"]), stage("b", &[], &["d/e"])]).unwrap_err();
        assert!(err.contains("lies inside"), "{err}");
        let err = Graph::build(&[stage("a", &[], &["d"]), stage("b", &[], &["d"])]).unwrap_err();
        assert!(err.contains("both write"), "{err}");
        // The inner out first, the outer one later.
        let err =
            Graph::build(&[stage("a", &[], &["d/e/f"]), stage("b", &[], &["d"])]).unwrap_err();
        assert!(
            err.contains("out 'd/e/f' of stage 'a' lies inside out 'd' of stage 'b'"),
            "{err}"
        );
        let err = Graph::build(&[stage("a", &[], &["x", "x"])]).unwrap_err();
        assert!(err.contains("stage 'a' lists 'x' twice"), "{err}");
    }
}
