"""The stack as a graph: sibling edges from the packages' own metadata (relations), where that
metadata comes from (metadata), and the graph with its order and cycles (graph)."""
