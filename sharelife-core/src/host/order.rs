//! Start order: dependencies first, `priority` breaking ties, and the cycle
//! that prevents an order when there is one.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One plugin in an ordering problem: `deps` are indices of the nodes it
/// needs started before it.
#[derive(Debug, Clone)]
pub(crate) struct Node<'a> {
    pub(crate) name: &'a str,
    pub(crate) priority: u8,
    pub(crate) deps: Vec<usize>,
}

/// A start order (indices into `nodes`): every node after its
/// dependencies; among the nodes ready at one moment the lowest priority
/// number goes first, then the lowest name. Nodes that cannot be placed
/// (on or behind a cycle) are returned second.
pub(crate) fn start_order(nodes: &[Node<'_>]) -> (Vec<usize>, Vec<usize>) {
    let mut waiting_on: Vec<usize> = nodes.iter().map(|n| n.deps.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for &d in &n.deps {
            dependents[d].push(i);
        }
    }
    let mut ready: BinaryHeap<Reverse<(u8, &str, usize)>> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| waiting_on[*i] == 0)
        .map(|(i, n)| Reverse((n.priority, n.name, i)))
        .collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(Reverse((_, _, i))) = ready.pop() {
        order.push(i);
        for &dependent in &dependents[i] {
            waiting_on[dependent] -= 1;
            if waiting_on[dependent] == 0 {
                let n = &nodes[dependent];
                ready.push(Reverse((n.priority, n.name, dependent)));
            }
        }
    }
    let stuck = (0..nodes.len()).filter(|i| waiting_on[*i] > 0).collect();
    (order, stuck)
}

/// A cycle among `stuck` nodes (as returned by [`start_order`]), as a path
/// that starts and ends with the same node: `[a, b, a]`.
pub(crate) fn find_cycle(nodes: &[Node<'_>], stuck: &[usize]) -> Vec<usize> {
    let Some(&start) = stuck.iter().min_by_key(|i| nodes[**i].name) else {
        return Vec::new();
    };
    // Every stuck node waits on another stuck node, so following those
    // edges must come back to a node already on the path.
    let mut path = vec![start];
    loop {
        let last = *path.last().expect("the path is never empty");
        let Some(&next) = nodes[last]
            .deps
            .iter()
            .filter(|d| stuck.contains(d))
            .min_by_key(|d| nodes[**d].name)
        else {
            return path;
        };
        if let Some(at) = path.iter().position(|p| *p == next) {
            let mut cycle = path.split_off(at);
            cycle.push(next);
            return cycle;
        }
        path.push(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node<'a>(name: &'a str, priority: u8, deps: &[usize]) -> Node<'a> {
        Node {
            name,
            priority,
            deps: deps.to_vec(),
        }
    }

    #[test]
    fn dependencies_first_then_priority_then_name() {
        // 0 base, 1 left(base), 2 right(base), 3 top(left, right), 4 solo
        let nodes = [
            node("base", 90, &[]),
            node("left", 50, &[0]),
            node("right", 10, &[0]),
            node("top", 1, &[1, 2]),
            node("solo", 50, &[]),
        ];
        let (order, stuck) = start_order(&nodes);
        let names: Vec<_> = order.iter().map(|i| nodes[*i].name).collect();
        assert_eq!(names, ["solo", "base", "right", "left", "top"]);
        assert!(stuck.is_empty());
    }

    #[test]
    fn a_cycle_is_found_and_what_waits_on_it_is_stuck() {
        // a -> b -> c -> a, d -> a
        let nodes = [
            node("a", 50, &[1]),
            node("b", 50, &[2]),
            node("c", 50, &[0]),
            node("d", 50, &[0]),
            node("e", 50, &[]),
        ];
        let (order, stuck) = start_order(&nodes);
        assert_eq!(order, [4]);
        assert_eq!(stuck, [0, 1, 2, 3]);
        let cycle: Vec<_> = find_cycle(&nodes, &stuck)
            .iter()
            .map(|i| nodes[*i].name)
            .collect();
        assert_eq!(cycle, ["a", "b", "c", "a"]);
    }
}
