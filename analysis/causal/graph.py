"""The assumed causal graph of the study (``graph.dot``), as text, as a networkx graph and as a figure.

The graph states the identifying assumptions of the matched change-score design: who enrols depends on
demographics, premium decile, disability, chronic disease, pre-period checkups and costs (all observed),
and on a latent health consciousness (unobserved), which also drives steps and the outcomes. The program
acts on the outcomes directly and through steps. Under this graph the effect is *not* identified by
adjustment for the observed baseline alone; DoWhy's backdoor estimand on the observed set is valid only
under the extra assumption that health consciousness has no path to the outcome left open (see
``analysis.causal.dowhy_checks``), which is exactly what the sensitivity grid probes.

The figure uses matplotlib and networkx only, with a hand-set layout (no graphviz binary needed, and the
same picture every time).
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx

from analysis.errors import GraphError

GRAPH_PATH = Path(__file__).with_name("graph.dot")

# Hand-set positions (x, y): baseline on the left, treatment and mediator in the middle, outcomes right.
LAYOUT: dict[str, tuple[float, float]] = {  # the baseline covariates staggered in two columns, so that an
    # edge leaving one does not run through the others' labels
    "female": (0.0, 6.4),
    "age_pre": (0.8, 5.6),
    "premium_decile_pre": (0.0, 4.8),
    "disability_pre": (0.8, 4.0),
    "bmi_pre": (0.0, 3.2),
    "sbp_pre": (0.8, 2.4),
    "waist_pre": (0.0, 1.6),
    "fasting_glucose_pre": (0.8, 0.8),
    "chronic_disease": (1.9, 5.2),
    "cost_pre1": (1.9, 2.0),
    "health_consciousness": (3.4, 6.6),
    "treated": (3.4, 3.4),
    "mean_daily_steps": (4.7, 5.0),
    "medical_cost_change": (6.3, 4.8),
    "bmi_change": (6.3, 3.3),
    "sbp_change": (6.3, 1.8),
}

ROLE_COLOURS = {
    "treatment": "#d95f02",
    "outcome": "#1b9e77",
    "confounder": "#7570b3",
    "mediator": "#e6ab02",
    "latent": "#bdbdbd",
}


def _unquote(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace("\\n", "\n")
    return value


def load_graph(as_text: bool = False) -> nx.DiGraph | str:
    """The assumed causal graph.

    Parameters
    ----------
    as_text : bool
        If True return the DOT source (what DoWhy's ``CausalModel(graph=...)`` accepts), else a
        ``networkx.DiGraph`` whose nodes carry ``role``, ``label`` and ``observed`` (False for latent).

    Returns
    -------
    networkx.DiGraph or str
    """
    text = GRAPH_PATH.read_text(encoding="utf-8")
    if as_text:
        return text
    from networkx.drawing.nx_pydot import read_dot

    multi = read_dot(str(GRAPH_PATH))
    g = nx.DiGraph()
    for node, attrs in multi.nodes(data=True):
        if node in ("node", "edge", "graph", "\\n"):
            continue
        clean = {k: _unquote(v) for k, v in attrs.items()}
        clean["observed"] = clean.get("observed", "yes") != "no"
        clean.setdefault("label", node)
        clean.setdefault("role", "confounder")
        g.add_node(node, **clean)
    g.add_edges_from((u, v) for u, v in multi.edges() if u in g and v in g)
    if not nx.is_directed_acyclic_graph(g):
        raise GraphError(f"{GRAPH_PATH}: the causal graph has a cycle; a causal graph must be acyclic")
    missing = set(g.nodes) - set(LAYOUT)
    if missing:
        raise GraphError(f"{GRAPH_PATH}: nodes {sorted(missing)} have no position in graph.LAYOUT; add them")
    return g


def latent_nodes(graph: nx.DiGraph | None = None) -> list[str]:
    """Names of the unobserved nodes (``observed="no"`` in the DOT file)."""
    g = load_graph() if graph is None else graph
    return [n for n, d in g.nodes(data=True) if not d["observed"]]


def dot_source(graph: nx.DiGraph) -> str:
    """A DOT string for a (possibly restricted) networkx graph, latent nodes marked ``observed="no"``."""
    lines = ["digraph wristdoctor {"]
    for n, d in graph.nodes(data=True):
        extra = ' [observed="no"]' if not d.get("observed", True) else ""
        lines.append(f"  {n}{extra};")
    lines += [f"  {u} -> {v};" for u, v in graph.edges()]
    lines.append("}")
    return "\n".join(lines)


ROLES_KO = {"treatment": "처치", "outcome": "결과", "confounder": "교란", "mediator": "매개", "latent": "미관측"}


def draw_graph(graph: nx.DiGraph | None = None, korean: bool = False):
    """The graph drawn with its fixed layout (latent nodes grey, dashed outline and edges); a matplotlib
    figure. ``korean``: the nodes' Korean labels (``label_ko``) and roles, for the Korean report (the caller
    registers a Korean font)."""
    import matplotlib.pyplot as plt

    g = load_graph() if graph is None else graph
    pos = {n: LAYOUT[n] for n in g.nodes}
    latent = set(latent_nodes(g))
    fig, ax = plt.subplots(figsize=(11, 8.5))
    solid = [(u, v) for u, v in g.edges() if u not in latent]
    dashed = [(u, v) for u, v in g.edges() if u in latent]
    common = dict(ax=ax, arrows=True, arrowstyle="-|>", arrowsize=12, node_size=2600,
                  connectionstyle="arc3,rad=0.06")
    nx.draw_networkx_edges(g, pos, edgelist=solid, edge_color="#555555", width=0.8, **common)
    nx.draw_networkx_edges(g, pos, edgelist=dashed, edge_color="#9e9e9e", width=1.0, style="dashed", **common)
    for n, d in g.nodes(data=True):
        colour = ROLE_COLOURS.get(d.get("role", "confounder"), "#7570b3")
        nx.draw_networkx_nodes(g, pos, nodelist=[n], ax=ax, node_size=2600, node_color=colour,
                               alpha=0.35 if n in latent else 0.25, edgecolors=colour, linewidths=1.5)
        if n in latent:
            ax.collections[-1].set_linestyle("--")
    labels = {n: (d["label_ko"] if korean and "label_ko" in d else d["label"]) for n, d in g.nodes(data=True)}
    nx.draw_networkx_labels(g, pos, labels=labels, font_size=8, ax=ax)
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, alpha=0.6,
                          label=ROLES_KO[r] if korean else r) for r, c in ROLE_COLOURS.items()]
    ax.legend(handles=handles, loc="lower center", ncol=5, frameon=False, bbox_to_anchor=(0.5, -0.06))
    ax.set_title("Assumed causal graph (dashed: unobserved)")
    ax.axis("off")
    ax.margins(0.08)
    fig.tight_layout()
    return fig


def plot_graph(path: str | Path, graph: nx.DiGraph | None = None) -> list[Path]:
    """``draw_graph`` written to ``<path>.png`` and ``<path>.svg`` (the suffix of ``path``, if any, is
    replaced); returns the two files."""
    import matplotlib
    import matplotlib.pyplot as plt

    fig = draw_graph(graph)
    base = Path(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    out = [base.with_suffix(".png"), base.with_suffix(".svg")]
    with matplotlib.rc_context({"svg.hashsalt": "wristdoctor-graph"}):  # stable clip-path ids in the SVG
        fig.savefig(out[0], dpi=120, metadata={"Software": None})
        fig.savefig(out[1], metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return out
