"""Fast, exact evaluation of a LightGBM tree ensemble on one core.

LightGBM's own ``Booster.predict`` walks each tree with data-dependent branches,
row by row; for the shallow trees our models use (``max_depth`` 6) that costs
more than the arithmetic.  :class:`CompiledForest` copies every tree into a
*perfect* binary tree of the same depth (heap layout: children of node ``k`` are
``2k+1`` and ``2k+2``), filling the missing branches with dummy nodes whose
threshold is ``+inf`` (always "go left") and putting each original leaf value
into the left-most leaf below it.  Traversal is then a fixed number of
branch-free steps, ``k = 2k + 1 + (x[f_k] > t_k)``, done for a block of rows at
a time so that independent rows overlap in the CPU.

Exactness: a numerical LightGBM split sends ``x`` left iff ``x <= threshold``
(thresholds are float64, stored with 17 significant digits in the model dump, so
they round-trip exactly).  The dummy nodes never change the path.  Leaf values
are summed over trees in LightGBM's order, so raw scores are bit-identical to
``Booster.predict(raw_score=True)`` (checked in tests/test_ml.py).  Inputs must be
finite (the callers check); models with categorical splits, linear trees,
zero-as-missing splits or trees deeper than :data:`MAX_DEPTH` are evaluated by
LightGBM itself (same numbers, just slower).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: Deepest tree copied into the perfect layout (2**12 leaves per tree at most).
MAX_DEPTH = 12

_OBJECTIVES = ("binary", "regression")


def _depth(node: dict) -> int:
    if "split_index" not in node:
        return 0
    return 1 + max(_depth(node["left_child"]), _depth(node["right_child"]))


def _supported(node: dict) -> bool:
    if "split_index" not in node:
        return True
    if node.get("decision_type") != "<=" or node.get("missing_type") == "Zero":
        return False
    return _supported(node["left_child"]) and _supported(node["right_child"])


class CompiledForest:
    """A LightGBM ``Booster`` (binary or regression objective) evaluated by a numba kernel.

    ``predict(X)`` returns the probability (binary) or the value (regression) for
    each row of ``X`` (n_rows, n_features) float64, exactly as
    ``booster.predict(X)`` would.  ``fast`` tells whether the fast path is used.
    """

    def __init__(self, booster) -> None:
        self.booster = booster
        dump = booster.dump_model()
        objective = str(dump.get("objective", "")).split()
        self.objective = objective[0] if objective else ""
        if self.objective not in _OBJECTIVES:
            raise ValueError(f"unsupported LightGBM objective {dump.get('objective')!r}; expected one of {_OBJECTIVES}")
        self.sigmoid = 1.0
        for tok in objective[1:]:
            if tok.startswith("sigmoid:"):
                self.sigmoid = float(tok.split(":", 1)[1])
        self.n_features = int(dump["max_feature_idx"]) + 1
        trees = [t["tree_structure"] for t in dump["tree_info"]]
        depths = [_depth(t) for t in trees]
        self.fast = (
            not any(t.get("is_linear") for t in dump["tree_info"])
            and all(d <= MAX_DEPTH for d in depths)
            and all(_supported(t) for t in trees)
        )
        self.n_trees = len(trees)
        if self.fast:
            self._arrays = self._flatten(trees, depths)

    @staticmethod
    def _flatten(trees: list[dict], depths: list[int]):
        node_off, leaf_off = [], []
        feats, thrs, leaves = [], [], []
        n_nodes = n_leaves = 0
        for tree, depth in zip(trees, depths):
            n_int = 2**depth - 1
            feat = np.zeros(n_int, dtype=np.int32)
            thr = np.full(n_int, np.inf)
            leaf = np.zeros(2**depth)
            stack = [(tree, 0, 0)]
            while stack:
                node, heap, level = stack.pop()
                if "split_index" in node:
                    feat[heap] = node["split_feature"]
                    thr[heap] = node["threshold"]
                    stack.append((node["left_child"], 2 * heap + 1, level + 1))
                    stack.append((node["right_child"], 2 * heap + 2, level + 1))
                else:
                    while level < depth:  # descend along dummy "left" nodes
                        heap, level = 2 * heap + 1, level + 1
                    leaf[heap - n_int] = node["leaf_value"]
            node_off.append(n_nodes)
            leaf_off.append(n_leaves)
            feats.append(feat)
            thrs.append(thr)
            leaves.append(leaf)
            n_nodes += n_int
            n_leaves += 2**depth
        cat = lambda parts, dt: np.ascontiguousarray(np.concatenate(parts) if parts else np.zeros(0), dtype=dt)  # noqa: E731
        return (
            np.asarray(node_off, dtype=np.int64),
            np.asarray(leaf_off, dtype=np.int64),
            np.asarray(depths, dtype=np.int64),
            cat(feats, np.int32),
            cat(thrs, np.float64),
            cat(leaves, np.float64),
        )

    def predict_raw(self, X: np.ndarray) -> np.ndarray:
        """Sum of leaf values per row (LightGBM's ``raw_score``)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected an array of shape (n, {self.n_features}), got {X.shape}")
        if not self.fast:
            return np.asarray(self.booster.predict(X, raw_score=True, num_threads=1), dtype=np.float64)
        out = np.empty(X.shape[0])
        if X.shape[0]:
            # Column-major input (as built from a table) needs no copy here.
            _forest_raw(np.ascontiguousarray(X.T), *self._arrays, out)
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        raw = self.predict_raw(X)
        if self.objective == "binary":
            _sigmoid_inplace(raw, self.sigmoid)
        return raw


@njit(cache=True, nogil=True)
def _forest_raw(Xt, node_off, leaf_off, depth, feat, thr, leaf, out):  # pragma: no cover (compiled)
    n = Xt.shape[1]
    n_trees = node_off.shape[0]
    block = 1024
    idx = np.zeros(block, dtype=np.int64)
    for start in range(0, n, block):
        m = min(block, n - start)
        for p in range(m):
            out[start + p] = 0.0
        for t in range(n_trees):
            o = node_off[t]
            d = depth[t]
            if d == 0:
                for p in range(m):
                    out[start + p] += leaf[leaf_off[t]]
                continue
            f0 = feat[o]
            t0 = thr[o]
            for p in range(m):  # the root is the same node for every row
                idx[p] = 1 + (Xt[f0, start + p] > t0)
            for _ in range(d - 1):
                for p in range(m):
                    k = idx[p]
                    idx[p] = 2 * k + 1 + (Xt[feat[o + k], start + p] > thr[o + k])
            base = leaf_off[t] - (2**d - 1)
            for p in range(m):
                out[start + p] += leaf[base + idx[p]]


@njit(cache=True, nogil=True)
def _sigmoid_inplace(raw, sigmoid):  # pragma: no cover (compiled)
    for k in range(raw.shape[0]):
        raw[k] = 1.0 / (1.0 + math.exp(-sigmoid * raw[k]))
