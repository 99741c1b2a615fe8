"""The figures of the report section of the modes stage (rule ``report_modes``, PNG), drawn with
the helpers of :mod:`.plots`.  A panel with nothing to draw says why (no DW, no TLS, a stage off).

* ``dw_linear_modes.png``: the linear modes of minimum A of each double well (DW) against its
  displacement, after Khomenko, Reichman, Zamponi, "Relationship between two-level systems and
  quasilocalized normal modes in glasses", Phys. Rev. Materials 5, 055602 (2021): (a) the best
  overlap c = max_alpha c_alpha (their Eq. 7) with r_AB against the participation ratio of that
  mode (their Fig. 4 shows every c_alpha of one TLS with the tangent r_12, which our tables do not
  keep); (b) the distributions of c for r_AB and r_AS (their Fig. 5, without r_12); (c) the
  splitting E against the frequency omega of the best mode (their Fig. 6).
* ``dw_nonlinear_modes.png``: (a, b) the distributions of c and a (their Eq. 8) of the best linear
  mode and of the nonlinear mode grown from r_AB (their Fig. 7); (c, d) of the softest QLM and of
  the nonlinear mode grown from it (their Fig. 8).
* ``qlm_dos.png``: after Mocanu et al., "Microscopic observation of two-level systems in a
  metallic glass model", J. Chem. Phys. 158, 014501 (2023), Fig. 10: (a) D(omega) with the
  A_4 omega^4 fit below the first phonon omega_t; (b) I(omega)/omega^5 with its A_4/5 plateau
  (their Fig. 10a); (c) A_4 omega_D^5 against n0 (their Fig. 10b).

Frequencies in sqrt(eps / (m sigma^2)), splittings in eps, n0 in eps^-1 per atom.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import modes as M
from .inputs import glass_tf
from .plots import _colors, _grid, _loglog, _note, _positive, _save, _scatter_positive

#: Figures written by :func:`tlsfinder.report.modes.make_modes_report` (key -> file in the report folder).
MODES_FIGURE_FILES = {
    "plot_dw_linear": "dw_linear_modes.png",
    "plot_dw_nonlinear": "dw_nonlinear_modes.png",
    "plot_dos": "qlm_dos.png",
}
#: Bins of the overlap distributions (c and a lie in [0, 1]).
OVERLAP_BINS = np.linspace(0.0, 1.0, 21)
NO_DW = "no double wells with modes\n(modes stage off, or no DW found)"


def _distribution(ax, x, color, ls, label) -> int:
    """Probability density of the overlaps ``x`` (NaN dropped) on :data:`OVERLAP_BINS`, as a step
    line; returns how many values it holds (0: nothing drawn)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if not len(x):
        return 0
    dens, edges = np.histogram(np.clip(x, 0.0, 1.0), bins=OVERLAP_BINS, density=True)
    ax.stairs(dens, edges, color=color, ls=ls, lw=1.2, label=f"{label} (n={len(x)})")
    return len(x)


def _finish_distribution(ax, drawn: int, xlabel: str, why: str) -> None:
    if not drawn:
        _note(ax, why)
        return
    ax.set_xlim(0, 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("probability density")
    ax.legend(fontsize=6)


def dw_table(dw: pd.DataFrame, cat: pd.DataFrame, preset: str) -> pd.DataFrame:
    """The DW-modes rows (:func:`tlsfinder.modes_stage.dw_modes`) with ``T_f``, the splitting ``E``
    in ``preset`` and ``is_TLS`` (of that preset) from the report's catalogue, matched on
    (glass, unordered IS pair); NaN / False for a row the catalogue lacks."""
    from ..modes_stage import _key

    if not len(dw):
        return dw.assign(T_f=np.zeros(0), E=np.zeros(0), is_TLS=np.zeros(0, bool))
    out = dw.assign(T_f=glass_tf(dw["glass"].astype(str).to_numpy(), "DW modes table"))
    e_col, t_col = f"E_{preset}", f"is_TLS_{preset}"
    if len(cat) and e_col in cat.columns:
        c = cat.assign(_k=_key(cat)).drop_duplicates("_k").set_index("_k")
        k = _key(out)
        out["E"] = k.map(c[e_col].astype(float)).to_numpy(float)
        out["is_TLS"] = k.map(c[t_col].astype(bool)).fillna(False).to_numpy(bool) if t_col in c.columns else False
    else:
        out["E"], out["is_TLS"] = np.nan, False
    return out


def plot_dw_linear(path, d: pd.DataFrame, pr_max: float, kT_Q: float, preset: str) -> None:
    """``dw_linear_modes.png`` (module docstring) from :func:`dw_table` ``d``; ``pr_max`` the QLM
    threshold (modes.pr_max), ``kT_Q`` the TLS threshold of ``preset`` (eps)."""
    fig, axes = _grid(1, 3, 4.0, 3.4)
    a, b, c = axes[0]
    titles = ("(a) best c vs its PR (cf. KRZ Fig. 4)", "(b) c = max c_alpha (cf. KRZ Fig. 5)",
              "(c) splitting vs omega (cf. KRZ Fig. 6)")
    for ax, t in zip(axes[0], titles):
        ax.set_title(t, fontsize=9)
    if not len(d):
        for ax in axes[0]:
            _note(ax, NO_DW)
        _save(fig, path)
        return
    col = _colors(set(d["T_f"]))
    drawn = [0, 0, 0]
    for tf, g in d.groupby("T_f"):
        tls = g["is_TLS"].to_numpy(bool)
        x, y = g["mode_c_pr"].to_numpy(float), g["mode_c"].to_numpy(float)
        for mask, marker, lab in ((~tls, "o", "DW"), (tls, "*", "TLS")):
            ok = mask & _positive(x, y)
            if ok.any():
                a.scatter(x[ok], y[ok], s=10 if marker == "o" else 40, marker=marker, color=col[tf],
                          label=f"{lab}, T_f={tf:g}")
                drawn[0] += int(ok.sum())
        drawn[1] += _distribution(b, g["mode_c"], col[tf], "-", f"r_AB, T_f={tf:g}")
        if "mode_c_AS" in g.columns:
            drawn[1] += _distribution(b, g["mode_c_AS"], col[tf], "--", f"r_AS, T_f={tf:g}")
        w, e = g["mode_c_omega"].to_numpy(float), g["E"].to_numpy(float)
        _scatter_positive(c, w, e, col[tf], f"T_f={tf:g}")
        drawn[2] += int(_positive(w, e).sum())
    if drawn[0]:
        a.set_xscale("log")
        a.axvline(pr_max, color="k", ls="--", lw=0.8, label=f"QLM: PR < {pr_max:g}")
        a.set_ylim(0, 1.02)
        a.set_xlabel("PR of the best mode")
        a.set_ylabel("c = max_alpha c_alpha (r_AB)")
        a.legend(fontsize=6)
    else:
        _note(a, "no finite overlap")
    _finish_distribution(b, drawn[1], "c = max_alpha c_alpha", "no finite overlap")
    if drawn[2]:
        c.set_xscale("log")  # minor tick labels kept: the best modes' omega often span less than a decade
        c.set_yscale("log")
        c.axhline(kT_Q, color="k", ls="--", lw=0.8, label=f"k_B T_Q ({preset}) = {kT_Q:g}")
        c.set_xlabel("omega of the best mode of A")
        c.set_ylabel(f"splitting E ({preset}, eps)")
        c.legend(fontsize=6)
    else:
        _note(c, "no DW with both a splitting and a mode frequency")
    _save(fig, path)


#: (panel title, x label, linear column, nonlinear column) of ``dw_nonlinear_modes.png``.
_NONLINEAR_PANELS = (
    ("(a) c: best linear vs nonlinear from r_AB (cf. KRZ Fig. 7)", "c (Eq. 7)", "lin_c", "nl_c"),
    ("(b) a: best linear vs nonlinear from r_AB (cf. KRZ Fig. 7)", "a (Eq. 8)", "lin_a", "nl_a"),
    ("(c) c: softest QLM vs nonlinear from it (cf. KRZ Fig. 8)", "c (Eq. 7)", "qlm_c", "nlq_c"),
    ("(d) a: softest QLM vs nonlinear from it (cf. KRZ Fig. 8)", "a (Eq. 8)", "qlm_a", "nlq_a"),
)


def _search_note(d: pd.DataFrame, pre: str) -> str:
    """How many nonlinear searches (prefix ``nl`` or ``nlq``) needed the damped fallback (mixing < 1)
    and how many failed (not converged: no overlap)."""
    parts = [f"{len(d)} DWs"]
    if f"{pre}_mixing" in d.columns:
        parts.append(f"damped {int(np.sum(d[f'{pre}_mixing'].to_numpy(float) < 1.0))}")
    if f"{pre}_converged" in d.columns:
        parts.append(f"failed {int(np.sum(~d[f'{pre}_converged'].astype(bool).to_numpy()))}")
    return ", ".join(parts)


def plot_dw_nonlinear(path, d: pd.DataFrame) -> None:
    """``dw_nonlinear_modes.png`` (module docstring) from :func:`dw_table` ``d``: dashed the linear
    mode, solid the nonlinear one, a colour per T_f."""
    fig, axes = _grid(1, 4, 3.8, 3.4)
    for ax, (title, xlab, lin, nl) in zip(axes[0], _NONLINEAR_PANELS):
        ax.set_title(title, fontsize=8)
        if not len(d):
            _note(ax, NO_DW)
            continue
        if nl not in d.columns:
            _note(ax, "nonlinear modes not computed\n(they need unit masses, modes.mass = 1)")
            continue
        col = _colors(set(d["T_f"]))
        drawn = 0
        for tf, g in d.groupby("T_f"):
            drawn += _distribution(ax, g[lin], col[tf], "--", f"linear, T_f={tf:g}")
            drawn += _distribution(ax, g[nl], col[tf], "-", f"nonlinear, T_f={tf:g}")
        # the nonlinear searches' outcomes under the axis, clear of the bars and the legend
        _finish_distribution(ax, drawn, f"{xlab}\n{_search_note(d, nl.split('_')[0])}", "no finite overlap")
    _save(fig, path)


def _dos_data(table: pd.DataFrame, summaries: pd.DataFrame, n_particles: int) -> dict:
    """Per T_f, the pooled frequencies of the sampled IS with modes: (frequencies, number of IS,
    mean omega_t, the frequency up to which every IS's spectrum is complete)."""
    if not len(table) or not len(summaries):
        return {}
    s = summaries
    if "error" in s.columns:
        s = s[s["error"].fillna("").astype(str) == ""]
    t = table.assign(_is=table["glass"].astype(str) + "#" + table["is_id"].astype(str))
    s = s.assign(_is=s["glass"].astype(str) + "#" + s["is_id"].astype(str),
                 T_f=glass_tf(s["glass"].astype(str).to_numpy(), "modes summary"))
    out = {}
    for tf, g in s.groupby("T_f"):
        f = t[t["_is"].isin(set(g["_is"]))]
        if not len(f):
            continue
        per_is = f.groupby("_is")["frequency"]
        partial = per_is.size() < 3 * n_particles - 3  # shift-invert: only the lowest modes
        top = float(per_is.max()[partial].min()) if partial.any() else math.inf
        out[float(tf)] = (f["frequency"].to_numpy(float), int(per_is.ngroups), float(g["omega_t"].mean()), top)
    return out


def a4_versus_n0(modes_tab: pd.DataFrame, elastic: pd.DataFrame, summaries: pd.DataFrame,
                 n0: pd.DataFrame) -> pd.DataFrame:
    """The points of Mocanu et al. (2023) Fig. 10b: per T_f and preset, A_4 omega_D^5
    (dimensionless; A_4 and its standard error from ``modes.csv``, omega_D the AQS one of
    ``elastic.csv`` when there, else the mean over the sampled IS of the Hessian one) and n0
    (eps^-1 per atom) at the common exploration time when ``n0.csv`` has it (their comparison at a
    fixed time), else over the whole run; ``n0_upper`` True where no TLS was counted and ``n0`` is
    the 95 % Poisson upper limit."""
    cols = ["T_f", "preset", "A4", "omega_D", "A4_omega_D5", "A4_omega_D5_err", "n0", "n0_err", "n0_upper"]
    if not len(modes_tab) or not len(n0) or "A4" not in modes_tab.columns:
        return pd.DataFrame(columns=cols)
    s = summaries
    if len(s):
        s = s.assign(T_f=glass_tf(s["glass"].astype(str).to_numpy(), "modes summary"))
    rows = []
    for _, m in modes_tab.iterrows():
        tf = float(m["T_f"])
        el = elastic[np.isclose(elastic["T_f"].to_numpy(float), tf)] if len(elastic) else elastic
        if len(el) and math.isfinite(float(el["omega_D"].iloc[0])):
            wd = float(el["omega_D"].iloc[0])
        else:
            wd = float(s.loc[np.isclose(s["T_f"].to_numpy(float), tf), "omega_D"].mean()) if len(s) else math.nan
        for _, r in n0[np.isclose(n0["T_f"].to_numpy(float), tf)].iterrows():
            timed = "n0_t_common" in r.index and math.isfinite(float(r["n0_t_common"]))
            pre = "n0_t_common" if timed else "n0"
            v, err = float(r[pre]), float(r.get(f"{pre}_err_poisson", math.nan))
            upper = not v > 0 and f"{pre}_upper95" in r.index
            if upper:
                v, err = float(r[f"{pre}_upper95"]), math.nan
            rows.append({"T_f": tf, "preset": str(r["preset"]), "A4": float(m["A4"]), "omega_D": wd,
                         "A4_omega_D5": float(m["A4"]) * wd**5, "A4_omega_D5_err": float(m["A4_err"]) * wd**5,
                         "n0": v, "n0_err": err, "n0_upper": bool(upper)})
    return pd.DataFrame(rows, columns=cols)


def plot_dos(path, table: pd.DataFrame, summaries: pd.DataFrame, n_particles: int, points: pd.DataFrame) -> None:
    """``qlm_dos.png`` (module docstring): ``table``, ``summaries`` the per-mode and per-IS tables of
    the modes stage, ``n_particles`` N, ``points`` :func:`a4_versus_n0`."""
    fig, axes = _grid(1, 3, 4.2, 3.5)
    a, b, c = axes[0]
    a.set_title("(a) D(omega) (cf. Mocanu Fig. 10a)", fontsize=9)
    b.set_title("(b) I(omega)/omega^5 (Mocanu Fig. 10a)", fontsize=9)
    c.set_title("(c) A_4 omega_D^5 vs n0 (Mocanu Fig. 10b)", fontsize=9)
    data = _dos_data(table, summaries, n_particles)
    col = _colors(set(data) | (set(points["T_f"]) if len(points) else set()))
    for tf, (f, n_is, omega_t, top) in sorted(data.items()):
        f = np.sort(f[np.isfinite(f) & (f > 0) & (f <= top)])
        if not len(f):
            continue
        edges = np.geomspace(f[0], f[-1] * (1 + 1e-9), 31)
        centres, dens, _ = M.density_of_states(f, n_particles, bins=edges, n_structures=n_is)
        ok = dens > 0
        a.plot(centres[ok], dens[ok], "-", marker=".", ms=3, lw=1, color=col[tf], label=f"T_f={tf:g} ({n_is} IS)")
        w, i_w = M.integrated_dos(f, n_particles, n_structures=n_is)
        b.plot(w, i_w / w**5, "-", lw=1, color=col[tf], label=f"T_f={tf:g} ({n_is} IS)")
        if omega_t <= top and math.isfinite(omega_t):
            fit = M.fit_a4(f, n_particles, omega_t, n_structures=n_is)
            if fit.count:
                lo = 0.5 * omega_t  # "just below omega_t", where the plateau is read
                a.plot([lo, omega_t], [fit.A4 * lo**4, fit.A4 * omega_t**4], "--", color=col[tf], lw=1)
                b.hlines(fit.A4 / 5.0, lo, omega_t, colors=[col[tf]], linestyles="--", lw=1.5,
                         label=f"A_4/5 = {fit.A4 / 5:.3g} ({fit.count} modes)")
            a.axvline(omega_t, color=col[tf], ls=":", lw=0.8)
            b.axvline(omega_t, color=col[tf], ls=":", lw=0.8)
    if data:
        for ax, ylab in ((a, "D(omega) (per 3N modes)"), (b, "I(omega)/omega^5")):
            _loglog(ax)
            ax.set_xlabel("omega (dotted: omega_t)")
            ax.set_ylabel(ylab)
            ax.legend(fontsize=6)
    else:
        _note(a, "no modes\n(modes stage off, or no IS with modes)")
        _note(b, "no modes\n(modes stage off, or no IS with modes)")
    ok = _positive(points["n0"].to_numpy(float), points["A4_omega_D5"].to_numpy(float)) if len(points) else []
    if np.any(ok):
        markers = dict(zip(sorted(set(points["preset"])), "osD^v<>"))
        for (tf, preset), g in points[ok].groupby(["T_f", "preset"]):
            upper = bool(g["n0_upper"].iloc[0])
            # open marker: no TLS counted, n0 at its 95 % Poisson upper limit
            c.errorbar(g["n0"], g["A4_omega_D5"], yerr=g["A4_omega_D5_err"],
                       xerr=None if upper else g["n0_err"], marker=markers[preset], ls="none", color=col[tf],
                       mfc="none" if upper else col[tf], capsize=2,
                       label=f"T_f={tf:g}, {preset}" + (" (n0 upper limit)" if upper else ""))
        c.set_xscale("log")  # minor tick labels kept: a few T_f often span less than a decade
        c.set_yscale("log")
        c.set_xlabel("n0 (eps^-1 per atom)")
        c.set_ylabel("A_4 omega_D^5")
        c.legend(fontsize=6)
    else:
        _note(c, "no A_4 and n0 > 0 for the same T_f\n(modes stage off, or no DW below T_Q)")
    _save(fig, path)


__all__ = ["MODES_FIGURE_FILES", "a4_versus_n0", "dw_table", "plot_dos", "plot_dw_linear", "plot_dw_nonlinear"]
