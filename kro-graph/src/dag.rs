//! The dependency DAG: deterministic topological order, cycle paths and apply-order waves.
//!
//! Nodes are indices into the declaration order; `dependencies[n]` are the nodes `n` reads.
//! Kahn's algorithm with a min-heap on the declaration index keeps the order stable and as close
//! to the declaration order as the edges allow.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

/// A cycle, as node indices along dependency edges; the first node is repeated at the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cycle(pub Vec<usize>);

/// The topological order of `dependencies.len()` nodes (dependencies before dependents,
/// declaration order breaking ties), or a cycle.
///
/// # Errors
/// A [`Cycle`] through the lowest-indexed node that is on one, following dependency edges.
pub fn topological_order(dependencies: &[BTreeSet<usize>]) -> Result<Vec<usize>, Cycle> {
    let count = dependencies.len();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut pending: Vec<usize> = vec![0; count];
    for (node, deps) in dependencies.iter().enumerate() {
        for &dep in deps.iter().filter(|&&dep| dep < count) {
            dependents[dep].push(node);
            pending[node] += 1;
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..count)
        .filter(|&node| pending[node] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(count);
    while let Some(Reverse(node)) = ready.pop() {
        order.push(node);
        for &dependent in &dependents[node] {
            pending[dependent] -= 1;
            if pending[dependent] == 0 {
                ready.push(Reverse(dependent));
            }
        }
    }
    if order.len() == count {
        return Ok(order);
    }
    let stuck: BTreeSet<usize> = (0..count).filter(|&node| pending[node] > 0).collect();
    Err(find_cycle(dependencies, &stuck))
}

/// A cycle among `stuck` (nodes Kahn's algorithm could not emit; each has a stuck dependency).
fn find_cycle(dependencies: &[BTreeSet<usize>], stuck: &BTreeSet<usize>) -> Cycle {
    let Some(&start) = stuck.iter().next() else {
        return Cycle(Vec::new());
    };
    // Every stuck node has a stuck dependency, so walking the smallest one must revisit a node.
    let mut path = vec![start];
    let mut position = vec![usize::MAX; dependencies.len()];
    position[start] = 0;
    let mut current = start;
    loop {
        let Some(&next) = dependencies[current].iter().find(|dep| stuck.contains(dep)) else {
            return Cycle(path);
        };
        if position[next] != usize::MAX {
            let mut cycle = path[position[next]..].to_vec();
            cycle.push(next);
            return Cycle(cycle);
        }
        position[next] = path.len();
        path.push(next);
        current = next;
    }
}

/// Apply-order waves, numbered as upstream kro numbers them (its reverse topological layers):
/// a node that nothing depends on is in the last wave, any other node one wave before its
/// earliest dependent, and the waves count up from 1. Dependencies are always in a lower wave
/// than their dependents, so deletion goes from the highest wave down. Matching upstream's
/// numbers matters: the wave is written to every child's `internal.kro.run/apply-order`, and a
/// different number would rewrite every child when a cluster switches implementations.
/// `order` must be topological.
pub fn waves(dependencies: &[BTreeSet<usize>], order: &[usize]) -> Vec<u32> {
    // Distance from the dependents' side: 0 for a node without dependents.
    let mut height = vec![0u32; dependencies.len()];
    for &node in order.iter().rev() {
        let below = height[node] + 1;
        for &dep in &dependencies[node] {
            if let Some(slot) = height.get_mut(dep) {
                *slot = (*slot).max(below);
            }
        }
    }
    let layers = height.iter().max().map_or(0, |&highest| highest + 1);
    height.iter().map(|&h| layers - h).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(edges: &[&[usize]]) -> Vec<BTreeSet<usize>> {
        edges.iter().map(|d| d.iter().copied().collect()).collect()
    }

    #[test]
    fn declaration_order_breaks_ties() {
        // 0 depends on 2; 1 is free.
        let graph = deps(&[&[2], &[], &[]]);
        assert_eq!(topological_order(&graph), Ok(vec![1, 2, 0]));
    }

    #[test]
    fn cycle_is_reported_with_its_path() {
        let graph = deps(&[&[1], &[2], &[0], &[]]);
        assert_eq!(topological_order(&graph), Err(Cycle(vec![0, 1, 2, 0])));
    }

    #[test]
    fn cycle_behind_a_tail_excludes_the_tail() {
        // 0 -> 1 -> 2 -> 1
        let graph = deps(&[&[1], &[2], &[1]]);
        assert_eq!(topological_order(&graph), Err(Cycle(vec![1, 2, 1])));
    }

    #[test]
    fn waves_follow_the_longest_dependency_chain() {
        let graph = deps(&[&[], &[0], &[0, 1], &[]]);
        let order = topological_order(&graph).expect("acyclic");
        // The free node 3 sits in the last wave, as in upstream's reverse layers.
        assert_eq!(waves(&graph, &order), vec![1, 2, 3, 3]);
    }

    #[test]
    fn waves_number_layers_from_the_dependents_side() {
        // a, b reads a, c free: upstream writes a=1, b=2, c=2.
        let graph = deps(&[&[], &[0], &[]]);
        let order = topological_order(&graph).expect("acyclic");
        assert_eq!(waves(&graph, &order), vec![1, 2, 2]);
        // 0 <- 1 <- 3 and 0 <- 2: the short branch 2 and the free 4 join the last wave.
        let branches = deps(&[&[], &[0], &[0], &[1], &[]]);
        let order = topological_order(&branches).expect("acyclic");
        assert_eq!(waves(&branches, &order), vec![1, 2, 3, 3, 3]);
    }
}
