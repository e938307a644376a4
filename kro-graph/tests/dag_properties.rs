//! Property tests on random DAGs: the order respects every edge and is the same on every run.

use std::collections::BTreeSet;

use kro_graph::dag::{topological_order, waves};
use proptest::prelude::*;

/// A random DAG over `n` nodes: each node may depend on any node declared after it or before
/// it, as long as the edge goes towards a lower rank of a random permutation (so no cycles).
fn dag() -> impl Strategy<Value = Vec<BTreeSet<usize>>> {
    (1usize..30).prop_flat_map(|n| {
        (
            Just(n).prop_shuffle_ranks(),
            proptest::collection::vec(proptest::collection::vec(0..n, 0..4), n),
        )
            .prop_map(|(rank, candidates)| {
                candidates
                    .into_iter()
                    .enumerate()
                    .map(|(node, deps)| {
                        deps.into_iter()
                            .filter(|&dep| rank[dep] < rank[node])
                            .collect()
                    })
                    .collect()
            })
    })
}

trait ShuffleRanks {
    fn prop_shuffle_ranks(self) -> BoxedStrategy<Vec<usize>>;
}

impl ShuffleRanks for Just<usize> {
    fn prop_shuffle_ranks(self) -> BoxedStrategy<Vec<usize>> {
        let n = self.0;
        Just((0..n).collect::<Vec<_>>()).prop_shuffle().boxed()
    }
}

proptest! {
    #[test]
    fn order_respects_every_edge_and_is_stable(graph in dag()) {
        let order = topological_order(&graph).expect("acyclic by construction");
        prop_assert_eq!(order.len(), graph.len());
        let mut position = vec![0; graph.len()];
        for (i, &node) in order.iter().enumerate() {
            position[node] = i;
        }
        for (node, deps) in graph.iter().enumerate() {
            for &dep in deps {
                prop_assert!(position[dep] < position[node], "{dep} must precede {node}");
            }
        }
        let wave = waves(&graph, &order);
        prop_assert_eq!(topological_order(&graph).expect("acyclic"), order);
        for (node, deps) in graph.iter().enumerate() {
            for &dep in deps {
                prop_assert!(wave[dep] < wave[node]);
            }
        }
    }

    #[test]
    fn a_back_edge_is_reported_as_a_cycle(graph in dag(), from in 0usize..30, to in 0usize..30) {
        let n = graph.len();
        let (from, to) = (from % n, to % n);
        let mut graph = graph;
        // Close a cycle when `to` already (transitively) depends on `from`, or `from == to`.
        graph[from].insert(to);
        match topological_order(&graph) {
            Ok(order) => prop_assert_eq!(order.len(), n),
            Err(cycle) => {
                let path = cycle.0;
                prop_assert!(path.len() >= 2);
                prop_assert_eq!(path.first(), path.last());
                for pair in path.windows(2) {
                    prop_assert!(graph[pair[0]].contains(&pair[1]), "{:?} is not an edge", pair);
                }
            }
        }
    }
}
