"""The report's figures (PNG), after Mocanu et al. (2023), "Microscopic observation of TLS
in a metallic glass model" ("the paper"): ``nE_over_E.png`` (Fig. 9a), ``cdf_splittings.png``
(Fig. 6), ``dw_vs_E.png`` (Fig. 7), ``exploration.png`` (Fig. 3), ``growth.png`` (Fig. 4) and
``ml_diagnostics.png``.  A panel with nothing to draw says so (a demo may find no TLS).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from ..io import atomic_path
from .inputs import glass_tf
from .tables import growth_curves, log_time_grid, n_is_geometric_mean


def _pyplot():
    # imported on first use: selecting the Agg backend must come before pyplot
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> None:
    """Lay out ``fig``, write it to ``path`` (PNG, atomically) and close it."""
    plt = _pyplot()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _note(ax, text: str) -> None:
    """Say in the panel why it is empty."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9, wrap=True,
            color="0.3")
    ax.set_xticks([])
    ax.set_yticks([])


def _colors(tfs) -> dict:
    plt = _pyplot()
    tfs = sorted(tfs)
    cmap = plt.get_cmap("plasma")
    return {tf: cmap(0.1 + 0.75 * (k / max(len(tfs) - 1, 1))) for k, tf in enumerate(tfs)}


def _cdf(ax, x, color, label) -> bool:
    x = np.sort(np.asarray(x, dtype=float))
    x = x[np.isfinite(x) & (x > 0)]
    if not len(x):
        return False
    ax.step(x, np.arange(1, len(x) + 1) / len(x), where="post", color=color, label=label)
    return True


def _grid(nrows, ncols, w=3.6, h=3.0):
    """A figure with an (nrows, ncols) array of panels of w x h inches each."""
    return _pyplot().subplots(nrows, ncols, figsize=(w * ncols, h * nrows), squeeze=False)


def _preset_rows(presets, tfs, ncols=4):
    """A figure with a row of ``ncols`` panels per unit preset: (fig, [(row of axes, preset)], T_f colours)."""
    presets = list(presets)
    fig, axes = _grid(max(len(presets), 1), ncols)
    return fig, list(zip(axes, presets)), _colors(tfs)


def _positive(x, y) -> np.ndarray:
    """Mask of the points a log-log panel can show: both coordinates finite and > 0."""
    return np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)


def _scatter_positive(ax, x, y, color, label) -> bool:
    """Scatter the points of (x, y) a log-log panel can show; True if there were any."""
    ok = _positive(x, y)
    if ok.any():
        ax.scatter(x[ok], y[ok], s=6, color=color, label=label)
    return bool(ok.any())


def _loglog(ax):
    from matplotlib.ticker import NullFormatter  # matplotlib is imported on first plot (_pyplot)

    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_formatter(NullFormatter())


def plot_n_over_e(path, nE: pd.DataFrame, n0: pd.DataFrame, presets, tfs) -> None:
    """n(E)/E versus E per T_f, one panel per preset; T_Q dashed, n0 dotted (the paper's Fig. 9a)."""
    presets = list(presets)
    fig, axes = _grid(1, max(len(presets), 1), 4.4, 3.6)
    col = _colors(tfs)
    for ax, p in zip(axes[0], presets):
        d = nE[nE["preset"] == p.name] if len(nE) else nE
        if not len(d):
            _note(ax, f"no double wells found\n(preset {p.name}, m~ = {p.m_tilde:g})")
            ax.set_title(f"{p.name}: n(E)/E")
            continue
        for tf, g in d.groupby("T_f"):
            ax.plot(g["E"], g["n_E_over_E"], "-", marker=".", ms=3, lw=1, color=col.get(tf), label=f"T_f={tf:g}")
            r = n0[(n0["T_f"] == tf) & (n0["preset"] == p.name)] if len(n0) else n0
            if len(r) and r["count_below_TQ"].iloc[0] > 0:
                v, e = float(r["n0"].iloc[0]), float(r["n0_err_poisson"].iloc[0])
                lo = float(g["E"].min())
                ax.hlines(v, lo, p.kT_Q, colors=[col.get(tf)], linestyles=":", lw=1.5)
                ax.fill_between([lo, p.kT_Q], max(v - e, v * 1e-3), v + e, color=col.get(tf), alpha=0.15, lw=0)
        ax.axvline(p.kT_Q, color="k", ls="--", lw=0.8, label=f"k_B T_Q = {p.kT_Q:g}")
        _loglog(ax)
        ax.set_xlabel("splitting E (eps)")
        ax.set_ylabel("n(E)/E (eps$^{-1}$ per atom)")
        ax.set_title(f"{p.name} (m~ = {p.m_tilde:g})")
        ax.legend(fontsize=7)
    _save(fig, path)


def plot_cdfs(path, cat: pd.DataFrame, presets, tfs) -> None:
    """The paper's Fig. 6: E vs sqrt(Delta^2 + Delta_0^2); CDFs of Delta_0, |Delta|, E; a row per preset."""
    fig, rows, col = _preset_rows(presets, tfs)
    for row, p in rows:
        titles = ("E vs sqrt(Delta^2 + Delta_0^2)", "CDF of Delta_0", "CDF of |Delta|", "CDF of E")
        if not len(cat):
            for ax, t in zip(row, titles):
                _note(ax, "no double wells found")
                ax.set_title(f"{p.name}: {t}", fontsize=9)
            continue
        any_data = [False] * 4
        for tf, g in cat.groupby("T_f"):
            c = col.get(tf)
            E = g[f"E_{p.name}"].to_numpy(float)
            D = g[f"Delta_{p.name}"].to_numpy(float)
            D0 = g[f"Delta_0_{p.name}"].to_numpy(float)
            any_data[0] |= _scatter_positive(row[0], np.sqrt(D * D + D0 * D0), E, c, f"T_f={tf:g}")
            any_data[1] |= _cdf(row[1], D0, c, f"T_f={tf:g}")
            any_data[2] |= _cdf(row[2], np.abs(D), c, f"T_f={tf:g}")
            any_data[3] |= _cdf(row[3], E, c, f"T_f={tf:g}")
        for k, (ax, t) in enumerate(zip(row, titles)):
            ax.set_title(f"{p.name}: {t}", fontsize=9)
            if not any_data[k]:
                _note(ax, "no positive values")
                continue
            _loglog(ax)
            if k == 0:
                lim = [min(ax.get_xlim()[0], ax.get_ylim()[0]), max(ax.get_xlim()[1], ax.get_ylim()[1])]
                ax.plot(lim, lim, "k-", lw=0.6)
                ax.set_xlabel("sqrt(Delta^2 + Delta_0^2) (eps)")
                ax.set_ylabel("E (eps)")
            else:
                ax.axvline(p.kT_Q, color="k", ls="--", lw=0.8)
                ax.set_xlabel(("Delta_0", "|Delta|", "E")[k - 1] + " (eps)")
                ax.set_ylabel("fraction of DWs below")
            ax.legend(fontsize=6)
    _save(fig, path)


def plot_vs_e(path, cat: pd.DataFrame, presets, tfs) -> None:
    """The paper's Fig. 7: Delta V, V_b, Gamma, PR versus E; a row per preset."""
    fig, rows, col = _preset_rows(presets, tfs)
    for row, p in rows:
        gcol = f"Gamma_per_s_{p.name}"
        use_si = len(cat) and gcol in cat.columns and np.isfinite(cat[gcol].to_numpy(float)).any()
        ys = [("Delta_V", "Delta V (eps)"), ("V_b", "V_b (eps)"),
              (gcol, "Gamma (1/s)") if use_si else (f"Gamma_{p.name}", "Gamma (eps/hbar)"), ("PR", "PR")]
        for ax, (c, lab) in zip(row, ys):
            ax.set_title(f"{p.name}: {lab.split(' (')[0]} vs E", fontsize=9)
            if not len(cat) or c not in cat.columns:
                _note(ax, "no double wells found" if not len(cat) else f"no column {c}")
                continue
            drawn = False
            for tf, g in cat.groupby("T_f"):
                drawn |= _scatter_positive(ax, g[f"E_{p.name}"].to_numpy(float), g[c].to_numpy(float),
                                           col.get(tf), f"T_f={tf:g}")
            if not drawn:
                _note(ax, "no positive values")
                continue
            _loglog(ax)
            ax.axvline(p.kT_Q, color="k", ls="--", lw=0.8)
            ax.set_xlabel("E (eps)")
            ax.set_ylabel(lab)
            ax.legend(fontsize=6)
    _save(fig, path)


def plot_exploration(path, persistence: pd.DataFrame, n_is: pd.DataFrame, t_end: Mapping[float, float]) -> None:
    """The paper's Fig. 3: CDF of persistence times; geometric mean of n_IS(t) over glasses; per T_f."""
    fig, axes = _grid(1, 2, 4.4, 3.6)
    a, b = axes[0]
    tfs = set()
    if len(persistence):
        persistence = persistence.assign(T_f=glass_tf(persistence["glass"].to_numpy(), "persistence table"))
        tfs |= set(persistence["T_f"])
    if len(n_is):
        n_is = n_is.assign(T_f=glass_tf(n_is["glass"].to_numpy(), "n_is table"))
        tfs |= set(n_is["T_f"])
    col = _colors(tfs)
    drawn = False
    if len(persistence):
        for tf, g in persistence.groupby("T_f"):
            drawn |= _cdf(a, g["tau_p"], col[tf], f"T_f={tf:g}")
    if drawn:
        a.set_xscale("log")
        a.set_xlabel("persistence time tau_p (tau)")
        a.set_ylabel("CDF")
        a.legend(fontsize=7)
    else:
        _note(a, "no persistence times\n(no IS change during exploration)")
    a.set_title("(a) persistence times")
    drawn = False
    if len(n_is):
        for tf, g in n_is.groupby("T_f"):
            grid = log_time_grid(g["time"], t_end.get(tf))
            if not len(grid):
                continue
            b.plot(grid, n_is_geometric_mean(g, grid), color=col[tf], label=f"T_f={tf:g}")
            drawn = True
    if drawn:
        _loglog(b)
        b.set_xlabel("exploration time t (tau)")
        b.set_ylabel("exp<log n_IS(t)>")
        b.legend(fontsize=7)
    else:
        _note(b, "no IS time series")
    b.set_title("(b) distinct IS per glass")
    _save(fig, path)


def plot_growth(path, n_is: pd.DataFrame, cat: pd.DataFrame, presets, t_end: Mapping[float, float]) -> None:
    """The paper's Fig. 4: N_IS, N_DW, N_TLS versus exploration time, and N_DW/N_IS; a column per T_f."""
    if len(n_is):
        n_is = n_is.assign(T_f=glass_tf(n_is["glass"].to_numpy(), "n_is table"))
    tfs = sorted((set(n_is["T_f"]) if len(n_is) else set()) | (set(cat["T_f"]) if len(cat) else set()))
    fig, axes = _grid(2, max(len(tfs), 1), 4.0, 3.0)
    if not tfs:
        _note(axes[0][0], "no exploration data")
        _note(axes[1][0], "no exploration data")
    styles = ["-", "--", ":", "-."]
    for k, tf in enumerate(tfs):
        top, bot = axes[0][k], axes[1][k]
        ni = n_is[n_is["T_f"] == tf] if len(n_is) else n_is
        ct = cat[cat["T_f"] == tf] if len(cat) else cat
        times = list(ni["time"]) if len(ni) else []
        times += list(ct["t_found"]) if len(ct) else []
        grid = log_time_grid(times, t_end.get(tf))
        top.set_title(f"T_f = {tf:g}")
        if not len(grid):
            _note(top, "no exploration time series")
            _note(bot, "")
            continue
        gc = growth_curves(ni, ct, presets, grid)
        top.step(grid, gc["N_IS"], where="post", color="tab:green", label="N_IS")
        top.step(grid, gc["N_DW"], where="post", color="tab:orange", label="N_DW")
        for s, p in zip(styles, presets):
            top.step(grid, gc[f"N_TLS_{p.name}"], where="post", color="tab:purple", ls=s, label=f"N_TLS ({p.name})")
        top.set_xscale("log")
        if (gc["N_IS"] > 0).any():
            top.set_yscale("symlog", linthresh=1)
        top.set_ylim(bottom=0)
        top.set_xlabel("exploration time t (tau)")
        top.set_ylabel("count (all glasses)")
        if len(ct) and np.isnan(ct["t_found"].to_numpy(float)).any():
            n_never = int(np.isnan(ct["t_found"].to_numpy(float)).sum())
            top.text(0.02, 0.98, f"{n_never} DW(s) whose pair was not seen crossed both ways",
                     transform=top.transAxes, va="top", fontsize=7)
        if not len(ct):
            top.text(0.02, 0.98, "no double wells found", transform=top.transAxes, va="top", fontsize=8)
        top.legend(fontsize=6, loc="lower right")
        ratio = np.where(gc["N_IS"] > 0, gc["N_DW"] / np.maximum(gc["N_IS"], 1), np.nan)
        bot.plot(grid, ratio, color="tab:orange")
        bot.set_xscale("log")
        bot.set_xlabel("exploration time t (tau)")
        bot.set_ylabel("N_DW / N_IS")
    _save(fig, path)


def plot_ml(path, tvp: pd.DataFrame, yld: pd.DataFrame, ml_yield: pd.DataFrame, presets,
            tls_splitting_max: float | None = None) -> None:
    """ML diagnostics: true vs predicted splitting; TLS found vs NEBs run; TLS per NEB per iteration."""
    plt = _pyplot()
    fig, axes = _grid(1, 3, 4.2, 3.6)
    a, b, c = axes[0]
    d = tvp[tvp["is_dw"].astype(bool)] if len(tvp) else tvp
    if len(d):
        x, y = d["splitting"].to_numpy(float), d["splitting_pred"].to_numpy(float)
        ok = _positive(x, y)
    else:
        ok = np.zeros(0, bool)
    if ok.any():
        its = d["iteration"].to_numpy()[ok]
        cmap = plt.get_cmap("viridis")
        uniq = sorted(set(its))
        for n, k in enumerate(uniq):
            m = its == k
            a.scatter(x[ok][m], y[ok][m], s=8, color=cmap(n / max(len(uniq) - 1, 1)), label=f"iteration {k}")
        lim = [min(x[ok].min(), y[ok].min()), max(x[ok].max(), y[ok].max())]
        a.plot(lim, lim, "k-", lw=0.6)
        if tls_splitting_max:
            a.axvline(tls_splitting_max, color="k", ls="--", lw=0.8)
            a.axhline(tls_splitting_max, color="k", ls="--", lw=0.8)
        _loglog(a)
        a.legend(fontsize=6, loc="lower right")
        a.set_xlabel("true splitting E (eps)")
        a.set_ylabel("predicted splitting (eps)")
        n_dw = int(d["is_dw"].sum())
        a.text(0.02, 0.98, f"{int(ok.sum())} DWs; DW fraction of the chosen pairs {n_dw}/{len(tvp)}",
               transform=a.transAxes, va="top", fontsize=7)
    else:
        _note(a, "no model predictions with computed labels yet\n(iteration 0 ranks by the heuristic; the last "
              "iteration's\nlabels exist only after its NEBs are merged)")
    a.set_title("(a) true vs predicted splitting", fontsize=9)
    if len(yld) and yld["n_neb"].sum() > 0:
        x0 = np.concatenate([[0], yld["cum_neb"]])
        for s, p in zip(["-", "--", ":", "-."], presets):
            b.plot(x0, np.concatenate([[0], yld[f"cum_tls_{p.name}"]]), marker="o", ls=s, label=f"TLS ({p.name})")
        b.plot(x0, np.concatenate([[0], np.cumsum(yld["n_dw"])]), marker="s", color="0.5", label="DW")
        b.set_xlabel("NEBs run (cumulative)")
        b.set_ylabel("found (cumulative)")
        b.legend(fontsize=7)
        w = 0.8 / max(len(presets), 1)
        for k, p in enumerate(presets):
            c.bar(yld["iteration"] + (k - (len(presets) - 1) / 2) * w, yld[f"tls_per_neb_{p.name}"], width=w,
                  label=f"{p.name} (kT_Q = {p.kT_Q:g})")
        if len(ml_yield) and "tls_per_neb" in ml_yield.columns:
            c.plot(ml_yield["iteration"], ml_yield["tls_per_neb"], "kx", ms=8,
                   label="yield.parquet" + (f" (E < {tls_splitting_max:g})" if tls_splitting_max else ""))
        c.set_xlabel("iteration")
        c.set_ylabel("TLS per NEB")
        c.set_xticks(list(yld["iteration"]))
        c.legend(fontsize=7)
    else:
        _note(b, "no NEB run yet")
        _note(c, "no NEB run yet")
    b.set_title("(b) TLS found vs NEBs run", fontsize=9)
    c.set_title("(c) yield per iteration", fontsize=9)
    _save(fig, path)
