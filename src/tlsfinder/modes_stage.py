"""The workflow stage of modes, elastic moduli and TLS-strain coupling (rules/modes.smk).

Glue only: the science is in :mod:`tlsfinder.modes`, :mod:`tlsfinder.elastic` and
:mod:`tlsfinder.coupling`; this module picks the structures, calls them and writes tables.
Three config sections switch it on (``modes``, ``elastic``, ``coupling``; all off by default, then
no rule of this stage is in the DAG and the report's new columns are NaN).

Per glass, before the loop:

* modes (``modes.enabled``): :func:`tlsfinder.modes.analyse` of ``modes.sample`` IS of the glass,
  IS 0 first (the quench of the glass itself at the start of its exploration), the others drawn
  at random from its IS library (stream ``modes/<glass>`` of the config seed).
  ``MODES_TABLE`` one row per mode (glass, is_id, mode, eigenvalue, frequency, PR, qlm);
  ``MODES_SUMMARY`` one row per IS (Hessian moduli, sound speeds, omega_t, omega_D, QLM count, A_4;
  ``error`` says why an IS got no modes: not a minimum, or G <= 0 from its Hessian).
* elastic (``elastic.enabled`` or ``coupling.enabled``): G and K of IS 0 by AQS and/or from the
  Hessian, and c_t, c_l, omega_t, omega_D from them (AQS values when computed, else the Hessian's);
  per T_f (:func:`tf_elastic`) the mean over glasses and its standard error.

After the loop (the DWs of the catalogue, :func:`tlsfinder.report.tables.catalogue`, of one glass):

* DW modes (``modes.enabled``): for every DW the linear modes of its minimum i and their overlaps
  with the displacements r_AB (i to j) and r_AS (i to the saddle) (Khomenko, Reichman, Zamponi,
  Phys. Rev. Materials 5, 055602 (2021), Eqs. 7-8): best c, its mode's frequency, PR and QLM flag,
  and the nonlinear modes from r_AB and from the softest QLM with their overlaps (their Figs. 7-8);
  for every TLS of ``loop.preset`` also the 1D check along its path (Mocanu et al., J. Chem. Phys.
  158, 014501 (2023), Appendix C): :func:`tlsfinder.modes.path_spectrum`.
* coupling (``coupling.enabled``): :func:`tlsfinder.coupling.strain_coupling` of every DW with
  E < ``coupling.select_kT_factor`` k_B T_Q of ``loop.preset`` (TLS and near-threshold DWs);
  the row of :meth:`~tlsfinder.coupling.CouplingResult.row` per DW.

The tunneling strengths C_l, C_t need n0, which the report computes: :func:`coupling_table` runs
in the report section (rule ``report_modes``) on the report's own ``n0.csv``.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import TLSFinderError, paths
from .config import OPTIONAL_SECTIONS as SECTIONS
from .schema import defaults

log = logging.getLogger(__name__)

#: Moduli and acoustic scales averaged over the glasses of a T_f (:func:`tf_elastic`).
ELASTIC_QUANTITIES = ("G", "K", "c_t", "c_l", "omega_t", "omega_D", "pressure", "G_aqs", "K_aqs", "G_hessian",
                      "K_hessian")
#: Catalogue columns this stage adds (NaN where not computed); :func:`catalogue_columns`.
CATALOGUE_COLUMNS = ("mode_c", "mode_c_omega", "mode_c_pr", "mode_c_qlm", "mode_c_AS", "nlq_a", "path_1d_doubtful",
                     "gamma_l", "gamma_t")


def section(config: dict, name: str) -> dict:
    """Config section ``name`` (one of :data:`SECTIONS`) with its schema defaults."""
    return {**defaults(name), **(config.get(name) or {})}


def stages(config: dict) -> dict[str, bool]:
    """Which parts run: ``modes``, ``elastic`` (also when coupling runs: C needs G and K), ``coupling``."""
    on = {k: bool(section(config, k)["enabled"]) for k in SECTIONS}
    on["elastic"] = on["elastic"] or on["coupling"]
    return on


# ---------------------------------------------------------------------------
# per glass
# ---------------------------------------------------------------------------


def _library(path):
    from .explore import read_is_library
    from .models import model_from_config

    lib = read_is_library(path)
    return lib, model_from_config(lib["model"]), lib["glass"]


def sample_ids(n_is: int, sample: int, seed: int, glass: str) -> list[int]:
    """IS ids of the modes sample: 0 first, then ``sample - 1`` others at random (stream ``modes/<glass>``)."""
    from .seeding import stage_rng

    if n_is < 1:
        raise TLSFinderError(f"{glass}: empty IS library, no modes")
    rest = np.arange(1, n_is)
    pick = stage_rng(seed, "modes", glass).choice(rest, size=min(sample - 1, len(rest)), replace=False)
    return [0, *sorted(int(k) for k in pick)]


def glass_modes(library_path, settings: dict, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(modes table, per-IS summary) of the sample of one glass (module docstring)."""
    from . import modes as M

    lib, model, glass = _library(library_path)
    rows, summ = [], []
    for k in sample_ids(len(lib["energy"]), int(settings["sample"]), seed, glass):
        t0 = time.perf_counter()
        try:
            res = M.analyse(model, lib["positions"][k], lib["box"], lib["species"], k=settings["k"],
                            masses=settings["mass"], pr_max=settings["pr_max"],
                            qlm_omega_max=settings["qlm_omega_max"], dense_max=settings["dense_max"])
        except TLSFinderError as exc:
            # One IS of the sample (not a minimum at the tolerance, or mechanically unstable, G <= 0,
            # which small glasses have now and then) is reported and skipped, not the whole glass.
            log.warning("%s: IS %d: no modes: %s", library_path, k, exc)
            summ.append({"glass": glass, "is_id": k, "error": str(exc), "wall_s": time.perf_counter() - t0})
            continue
        m = res["modes"]
        rows.append(pd.DataFrame({"glass": glass, "is_id": k, "mode": np.arange(len(m.frequencies)),
                                  "eigenvalue": m.eigenvalues, "frequency": m.frequencies, "PR": m.participation,
                                  "qlm": res["qlm"]}))
        a4, a4q = res["a4"], res["a4_qlm"]
        summ.append({"glass": glass, "is_id": k, "method": m.method, "n_modes": len(m.frequencies),
                     **{f"{q}_hessian" if q in ("G", "K") else q: v for q, v in res["acoustic"].items()},
                     "pressure": res["moduli"].pressure, "qlm_omega_max": res["qlm_omega_max"],
                     "n_qlm": res["n_qlm"], "A4": a4.A4 if a4 else math.nan, "A4_count": a4.count if a4 else -1,
                     "A4_qlm": a4q.A4 if a4q else math.nan, "error": "", "wall_s": time.perf_counter() - t0})
        log.info("%s IS %d: %d modes (%s), %d QLM, omega_t %.3f", glass, k, len(m.frequencies), m.method,
                 res["n_qlm"], res["acoustic"]["omega_t"])
    if not rows:
        raise TLSFinderError(f"{library_path}: no IS of the sample has modes: " + "; ".join(s["error"] for s in summ))
    summary = pd.DataFrame(summ)
    summary["error"] = summary["error"].fillna("").astype(str)
    return pd.concat(rows, ignore_index=True), summary


def glass_elastic(library_path, settings: dict, mass: float) -> pd.DataFrame:
    """One row: G, K of IS 0 of the glass by AQS (``G_aqs``, ``K_aqs``) and/or from the Hessian
    (``G_hessian``, ``K_hessian``), NaN for a route not asked for; ``G``, ``K`` the AQS values if
    computed, else the Hessian's, and c_t, c_l, omega_t, omega_D from them (eps/sigma^3, sigma/tau, 1/tau)."""
    from .elastic import acoustic_summary, aqs_moduli, hessian_moduli

    if not (settings["aqs"] or settings["hessian"]):
        raise TLSFinderError("config elastic: aqs and hessian are both false: no route to the moduli")
    lib, model, glass = _library(library_path)
    x, box, species = lib["positions"][0], lib["box"], lib["species"]
    row = {"glass": glass, "T_f": paths.parse_glass_id(glass)[0], "is_id": 0}
    t0 = time.perf_counter()
    try:
        if settings["aqs"]:
            a = aqs_moduli(model, x, box, species, strains=settings["strains"], ftol=settings["ftol"],
                           identity_tol=settings["identity_tol"])
            for p in a.problems:  # retried at smaller strains (tlsfinder.elastic.aqs_moduli)
                log.warning("%s: IS 0: AQS %s", library_path, p)
            row.update(G_aqs=a.G, K_aqs=a.K, pressure=a.pressure, aqs_strain_max=max(a.strains))
        if settings["hessian"]:
            h = hessian_moduli(model, x, box, species)
            row.update(G_hessian=h.G, K_hessian=h.K, pressure=h.pressure)
    except TLSFinderError as exc:
        raise TLSFinderError(f"{library_path}: IS 0: {exc}") from exc
    for q in ("G_aqs", "K_aqs", "G_hessian", "K_hessian"):
        row.setdefault(q, math.nan)
    route = "aqs" if settings["aqs"] else "hessian"
    row.update(method=route, **acoustic_summary(row[f"G_{route}"], row[f"K_{route}"], len(species), box, mass=mass))
    row["wall_s"] = time.perf_counter() - t0
    return pd.DataFrame([row])


def tf_elastic(frames) -> pd.DataFrame:
    """Per T_f: ``N_g`` and, for each of :data:`ELASTIC_QUANTITIES`, the mean over glasses and
    ``<q>_err``, its standard error std / sqrt(N_g) (ddof 1; NaN for one glass)."""
    df = pd.concat(list(frames), ignore_index=True)
    rows = []
    for tf, g in df.groupby("T_f", sort=True):
        row = {"T_f": float(tf), "N_g": len(g), "method": ",".join(sorted(set(g["method"])))}
        for q in ELASTIC_QUANTITIES:
            v = g[q].to_numpy(float)
            row[q] = float(v.mean())
            row[f"{q}_err"] = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# after the loop: the DWs of one glass
# ---------------------------------------------------------------------------


def glass_catalogue(neb_files, config: dict, glass: str) -> pd.DataFrame:
    """The report's catalogue rows (:func:`tlsfinder.report.tables.catalogue`) of ``glass``, with
    ``E_loop`` the splitting in ``loop.preset`` and ``kT_Q`` its threshold."""
    from .loop import LoopSettings, tls_threshold
    from .neb import settings_from_config
    from .report.inputs import read_neb_tables
    from .report.tables import catalogue

    _, presets, _ = settings_from_config(config)
    cat, _ = catalogue(read_neb_tables(neb_files), presets)
    cat = cat[cat["glass"].astype(str) == glass].reset_index(drop=True) if len(cat) else cat
    preset = LoopSettings.from_config(config).preset
    cat["E_loop"] = cat[f"E_{preset}"].to_numpy(float) if len(cat) else np.zeros(0)
    cat["kT_Q"] = tls_threshold(config)
    return cat


class Minima:
    """Positions of the minima of one glass by IS id: the IS library, then the NEB-minima file
    (ids >= n_IS, :mod:`tlsfinder.identity`)."""

    def __init__(self, library_path, neb_minima_path=None):
        from .identity import read_minima

        self.lib, self.model, self.glass = _library(library_path)
        self.extra = {}
        if neb_minima_path:
            m = read_minima(neb_minima_path)
            self.extra = {i: x for g, i, x in zip(m["glass"], m["id"], m["positions"]) if g == self.glass}

    def __getitem__(self, k: int) -> np.ndarray:
        n = len(self.lib["energy"])
        if 0 <= k < n:
            return self.lib["positions"][k]
        if k in self.extra:
            return np.asarray(self.extra[k])
        raise TLSFinderError(f"{self.glass}: IS id {k} neither in the IS library (0..{n - 1}) nor among the NEB minima")


def _band(row, box, x_i) -> np.ndarray | None:
    """The NEB band of a catalogue row, (n, N, 3), oriented to start at minimum i; None without a path file."""
    import ase.io

    name = row.get("path_xyz")
    if not isinstance(name, str) or not name or pd.isna(row.get("batch", np.nan)):
        return None
    f = Path(paths.fill(paths.NEB_PATHS, k=int(row["iteration"]), b=int(row["batch"]))) / name
    if not f.exists():
        raise TLSFinderError(f"{f}: path file of DW {row['pair_id']} missing")
    images = np.array([a.positions for a in ase.io.read(str(f), index=":", format="extxyz")])
    from .geometry import displacements

    d0 = np.linalg.norm(displacements(x_i, images[0], box))
    d1 = np.linalg.norm(displacements(x_i, images[-1], box))
    return images if d0 <= d1 else images[::-1]


def dw_modes(cat: pd.DataFrame, minima: Minima, settings: dict) -> pd.DataFrame:
    """Per DW of ``cat`` (one glass): overlaps of minimum i's modes with the DW and, for TLS
    (``E_loop < kT_Q``), the 1D check along the band (module docstring).  Columns: glass, i, j,
    pair_id; linear modes against r_AB (i to j): ``mode_c`` (max_alpha c_alpha, Eq. 7),
    ``mode_c_index``, ``mode_c_omega``, ``mode_c_pr``, ``mode_c_qlm`` (1.0 if that best mode is a
    QLM), ``mode_a`` (best Eq. 8 overlap); ``mode_c_AS`` (max c with r_AS, i to the band's highest
    image; NaN without a band); with unit masses the columns of
    :meth:`tlsfinder.modes.DoubleWellModes.row` (nonlinear modes from r_AB, ``nl_*``, and from the
    softest QLM, ``nlq_*``; Khomenko et al. (2021) Figs. 7-8); ``path_1d_doubtful`` (1.0/0.0;
    :attr:`tlsfinder.modes.PathSpectrum.doubtful`, NaN if not a TLS or no band) and
    ``path_transverse_min`` (lowest transverse eigenvalue along the path, eps/sigma^2); ``wall_s``."""
    from . import modes as M
    from .geometry import displacements

    model, box, species = minima.model, minima.lib["box"], minima.lib["species"]
    unit_mass = float(settings["mass"]) == 1.0
    rows = []
    for _, r in cat.iterrows():
        t0 = time.perf_counter()
        i, j = int(r["i"]), int(r["j"])
        xi, xj = minima[i], minima[j]
        try:
            res = M.analyse(model, xi, box, species, k=settings["k"], masses=settings["mass"],
                            pr_max=settings["pr_max"], qlm_omega_max=settings["qlm_omega_max"],
                            dense_max=settings["dense_max"])
            modes = res["modes"]
            ov = M.mode_overlaps(modes, displacements(xi, xj, box), masses=settings["mass"])
            row = {"glass": minima.glass, "i": i, "j": j, "pair_id": r["pair_id"], "mode_c": ov.c,
                   "mode_c_index": ov.c_mode, "mode_c_omega": ov.c_omega, "mode_c_pr": ov.c_pr,
                   "mode_c_qlm": float(res["qlm"][ov.c_mode]), "mode_a": ov.a, "mode_c_AS": math.nan,
                   "path_1d_doubtful": math.nan, "path_transverse_min": math.nan}
            if unit_mass:  # the nonlinear modes of Khomenko et al. (2021) are defined with unit masses
                row.update(M.double_well_nonlinear_modes(model, xi, xj, box, species, analysis=res).row())
            band = _band(r, box, xi)
            if band is not None:
                sad = int(np.argmax([model.energy(x, box, species) for x in band]))
                if 0 < sad < len(band) - 1:
                    r_as = M.band_displacements(band, box, sad)["r_AS"]
                    row["mode_c_AS"] = M.mode_overlaps(modes, r_as, masses=settings["mass"]).c
                if r["E_loop"] < r["kT_Q"]:
                    ps = M.path_spectrum(model, band, box, species, k=settings["path_k"],
                                         n_overlap=min(6, settings["path_k"]))
                    row["path_1d_doubtful"] = float(ps.doubtful)
                    row["path_transverse_min"] = float(ps.transverse[:, 0].min())
        except TLSFinderError as exc:
            raise TLSFinderError(f"DW {r['pair_id']}: {exc}") from exc
        row["wall_s"] = time.perf_counter() - t0
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["glass", "i", "j", "pair_id", "mode_c"])


def dw_coupling(cat: pd.DataFrame, minima: Minima, settings: dict, presets) -> pd.DataFrame:
    """Strain coupling of the DWs of ``cat`` (one glass) with ``E_loop < select_kT_factor kT_Q``:
    glass, i, j, pair_id, E_loop, is_TLS, and :meth:`~tlsfinder.coupling.CouplingResult.row`
    (gamma in eps; gamma_l_<p>, gamma_t_<p> of the quantum Delta per preset), problems, wall_s."""
    from .coupling import strain_coupling

    model, box, species = minima.model, minima.lib["box"], minima.lib["species"]
    rows = []
    sel = cat[cat["E_loop"] < settings["select_kT_factor"] * cat["kT_Q"]] if len(cat) else cat
    for _, r in sel.iterrows():
        t0 = time.perf_counter()
        i, j = int(r["i"]), int(r["j"])
        try:
            res = strain_coupling(model, box, species, minima[i], minima[j], amplitudes=settings["amplitudes"],
                                  quantum=settings["quantum"], ftol=settings["ftol"],
                                  same_min_tol=settings["same_min_tol"], identity_tol=settings["identity_tol"],
                                  n_modes=settings["n_modes"], min_overlap=settings["min_overlap"],
                                  shrink=settings["shrink"], shrink_tries=settings["shrink_tries"])
        except TLSFinderError as exc:
            raise TLSFinderError(f"DW {r['pair_id']}: {exc}") from exc
        for p in res.problems:
            log.warning("DW %s: %s", r["pair_id"], p)
        rows.append({"glass": minima.glass, "i": i, "j": j, "pair_id": r["pair_id"], "E_loop": float(r["E_loop"]),
                     "is_TLS": bool(r["E_loop"] < r["kT_Q"]),
                     **{f"is_TLS_{p.name}": bool(r[f"is_TLS_{p.name}"]) for p in presets}, **res.row(presets),
                     "problems": "; ".join(res.problems), "wall_s": time.perf_counter() - t0})
    return pd.DataFrame(rows, columns=None if rows else ["glass", "i", "j", "pair_id", "gamma_l", "gamma_t"])


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------


def _key(df: pd.DataFrame) -> pd.Series:
    lo, hi = np.minimum(df["i"], df["j"]).astype("int64"), np.maximum(df["i"], df["j"]).astype("int64")
    return df["glass"].astype(str) + "/" + lo.astype(str) + "-" + hi.astype(str)


def catalogue_columns(cat: pd.DataFrame, dw_modes_table: pd.DataFrame | None,
                      coupling: pd.DataFrame | None) -> pd.DataFrame:
    """The catalogue with :data:`CATALOGUE_COLUMNS` added, matched on (glass, unordered IS pair);
    NaN where not computed (a stage off, or a DW it does not cover)."""
    out = cat.copy()
    key = _key(out) if len(out) else pd.Series([], dtype=str)
    for table, cols in ((dw_modes_table, CATALOGUE_COLUMNS[:-2]), (coupling, CATALOGUE_COLUMNS[-2:])):
        for c in cols:
            out[c] = np.nan
        if table is None or not len(table) or not len(out):
            continue
        t = table.assign(_k=_key(table)).drop_duplicates("_k").set_index("_k")
        for c in cols:
            if c in t.columns:
                out[c] = key.map(t[c].astype(float)).to_numpy(float)
    return out


def coupling_table(coupling: pd.DataFrame, n0: pd.DataFrame, elastic: pd.DataFrame, presets,
                   density: float, mass: float) -> pd.DataFrame:
    """Per T_f and preset p: the coupled TLS of p (``is_TLS_<p>``), their rms gamma_l, gamma_t and
    C_l, C_t = P <gamma^2> / (rho c^2) (:func:`tlsfinder.coupling.tunneling_strength`; dimensionless),
    P the report's n0 per volume (``n0_vol`` of ``n0.csv``, eps^-1 sigma^-3), G and K the T_f's mean
    moduli (:func:`tf_elastic`).  Unsuffixed columns use gamma of the classical asymmetry Delta_V,
    ``*_quantum`` that of the preset's quantum Delta (Eq. 13 of Mocanu et al. (2023), where
    computed); ``*_eV``, ``*_per_J_m3``, ``*_kg_m3``, ``*_m_s``, ``C_*_si`` the SI ingredients of
    presets with SI scales.  ``n_near``: coupled DWs that are not TLS of p.  A TLS of p whose
    splitting in ``loop.preset`` is above the selection is not coupled (not counted).
    ``gamma_l_rms_all``, ``gamma_t_rms_all``: rms over every coupled DW of the T_f (classical),
    the figure left to quote when no TLS was found.  ``C_exp_min``, ``C_exp_max``: the range measured
    in glasses (:data:`tlsfinder.coupling.EXPERIMENT_C_RANGE`)."""
    from .coupling import EXPERIMENT_C_RANGE, tunneling_strength

    cols = ["T_f", "preset", "n_TLS", "n_near", "P", "G", "K", "gamma_l_rms", "gamma_t_rms", "C_l", "C_t",
            "C_exp_min", "C_exp_max"]
    if coupling is None or not len(coupling):
        return pd.DataFrame(columns=cols)
    cp = coupling.assign(T_f=[paths.parse_glass_id(g)[0] for g in coupling["glass"]])
    rows = []
    for tf, g in cp.groupby("T_f", sort=True):
        el = elastic[np.isclose(elastic["T_f"].to_numpy(float), tf)]
        if not len(el):
            raise TLSFinderError(f"coupling at T_f={tf:g} but no elastic moduli for it")
        G, K = float(el["G"].iloc[0]), float(el["K"].iloc[0])
        for p in presets:
            tls = g[g[f"is_TLS_{p.name}"].astype(bool)]
            n0row = n0[np.isclose(n0["T_f"].to_numpy(float), tf) & (n0["preset"].astype(str) == p.name)]
            P = float(n0row["n0_vol"].iloc[0]) if len(n0row) else math.nan
            row = {"T_f": float(tf), "preset": p.name, "n_TLS": len(tls), "n_near": len(g) - len(tls), "P": P,
                   "G": G, "K": K, "C_exp_min": EXPERIMENT_C_RANGE[0], "C_exp_max": EXPERIMENT_C_RANGE[1]}
            for a in ("l", "t"):  # every coupled DW (what is left to quote when no TLS was found)
                v = g[f"gamma_{a}"].to_numpy(float)
                row[f"gamma_{a}_rms_all"] = float(np.sqrt(np.nanmean(v * v))) if np.isfinite(v).any() else math.nan
            for suffix, tag in (("", ""), (f"_{p.name}", "_quantum")):
                gl, gt = (tls[f"gamma_{a}{suffix}"].to_numpy(float) for a in ("l", "t"))
                ok = np.isfinite(gl) & np.isfinite(gt)
                if not (ok.any() and math.isfinite(P)):
                    row.update({f"{k}{tag}": math.nan for k in ("gamma_l_rms", "gamma_t_rms", "C_l", "C_t")})
                    continue
                ts = tunneling_strength(gl[ok], gt[ok], P, G, K, density, mass=mass, preset=p)
                for k, v in ts.items():
                    k = k[:-len(p.name) - 1] if k.endswith(f"_{p.name}") else k
                    if tag and k in ("P", "rho", "c_l", "c_t", "P_per_J_m3", "rho_kg_m3", "c_l_m_s", "c_t_m_s"):
                        continue  # the same for both asymmetries
                    row[f"{k}{tag}"] = v
            rows.append(row)
    return pd.DataFrame(rows)
