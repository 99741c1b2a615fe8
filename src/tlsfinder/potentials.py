"""The smoothed pair potential of every glass model, written once.

Both models (KA2 and PSS) share one dimensionless shape

    u(x) = a12 x^-12 - a6 x^-6 + c0 + c2 x^2 + c4 x^4,   x = r / sigma_ij < x_c,

and v_ij(r) = eps_ij u(r / sigma_ij); the polynomial makes u, u' and u'' vanish at x_c
(Mocanu et al. (2023), "Microscopic observation of TLS in a metallic glass model", Eq. 2,
for KA2; Ninarello, Berthier, Coslovich, PRX 7, 021039 (2017) for PSS).

The formula lives in :data:`TERMS` and in the three term functions below (``_u_terms``,
``_x_du_inverse``, ``_x2_d2u_inverse``), written once as plain arithmetic that works on numpy
arrays, scalars and inside numba code.  Every evaluator is derived from them:

* ``energy_x2``, ``force_x2``, ``curvature_x2``: functions of x2 = x^2 for the NEB kernel,
  with ``*_jit`` versions that numba inlines into the caller;
* ``energy_x``, ``slope_x``, ``curvature_x``: functions of x, callable from numpy and (inlined)
  from numba code; :class:`PairForm` ``u``, ``du``, ``d2u`` call them (the models' energy,
  forces and Hessian, the LAMMPS table, swap Monte Carlo);
* :meth:`PairForm.lepton`: the Lepton expression, built from :data:`TERMS`.

The two families differ only in how they form the inverse powers: the x2 functions take one
division, ix2 = 1 / x2, ix6 = ix2^3; the x functions take ix6 = 1 / x2^3 and divide by x.
Both orders are kept because results depend on them bit for bit: the NEB forces on the first,
the LAMMPS table (hence every MD trajectory) and the Hessian on the second.  tests/test_models.py
checks that the families agree to rounding and that the Lepton string equals ``energy_x2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
from numba.extending import register_jitable

# (sign, coefficient name, power of x) of each term of u(x), in the order of _u_terms;
# the Lepton expression is built from this (tests check it against energy_x2).
TERMS = (("+", "a12", -12), ("-", "a6", -6), ("+", "c0", 0), ("+", "c2", 2), ("+", "c4", 4))


# The terms.  ``inline="always"``: inside numba code they are inlined into the caller's IR and so
# compiled with its flags (e.g. fastmath), exactly as if written there.
@register_jitable(inline="always")
def _u_terms(x2, ix6, a12, a6, c0, c2, c4):
    """u from x^2 and x^-6."""
    return a12 * ix6 * ix6 - a6 * ix6 + c0 + c2 * x2 + c4 * x2 * x2


@register_jitable(inline="always")
def _x_du_inverse(ix6, a12, a6):
    """x du/dx of the two inverse-power terms."""
    return -12.0 * a12 * ix6 * ix6 + 6.0 * a6 * ix6


@register_jitable(inline="always")
def _x2_d2u_inverse(ix6, a12, a6):
    """x^2 d^2u/dx^2 of the two inverse-power terms."""
    return 156.0 * a12 * ix6 * ix6 - 42.0 * a6 * ix6


# The polynomial's derivatives, 2 c2 x + 4 c4 x^3 and 2 c2 + 12 c4 x^2, appear below divided by x
# (force_x2) or not (slope_x), and in curvature_x2 / curvature_x.


def energy_x2(x2, a12, a6, c0, c2, c4):
    """u at x^2 = ``x2``."""
    ix2 = 1.0 / x2
    return _u_terms(x2, ix2 * ix2 * ix2, a12, a6, c0, c2, c4)


def force_x2(x2, a12, a6, c0, c2, c4):
    """(du/dx) / x at x^2 = ``x2``, so that (dv/dr) / r = eps / sigma^2 * force_x2."""
    ix2 = 1.0 / x2
    return _x_du_inverse(ix2 * ix2 * ix2, a12, a6) * ix2 + 2.0 * c2 + 4.0 * c4 * x2


def curvature_x2(x2, a12, a6, c0, c2, c4):
    """d^2u/dx^2 at x^2 = ``x2``."""
    ix2 = 1.0 / x2
    return _x2_d2u_inverse(ix2 * ix2 * ix2, a12, a6) * ix2 + 2.0 * c2 + 12.0 * c4 * x2


# Compiled versions, inlined into the calling kernel (no call cost, the caller's flags).
energy_x2_jit = numba.njit(inline="always")(energy_x2)
force_x2_jit = numba.njit(inline="always")(force_x2)
curvature_x2_jit = numba.njit(inline="always")(curvature_x2)


@register_jitable(inline="always")
def energy_x(x, a12, a6, c0, c2, c4):
    """u at x."""
    x2 = x * x
    return _u_terms(x2, 1.0 / (x2 * x2 * x2), a12, a6, c0, c2, c4)


@register_jitable(inline="always")
def slope_x(x, a12, a6, c0, c2, c4):
    """du/dx at x."""
    x2 = x * x
    return _x_du_inverse(1.0 / (x2 * x2 * x2), a12, a6) / x + 2.0 * c2 * x + 4.0 * c4 * x2 * x


@register_jitable(inline="always")
def curvature_x(x, a12, a6, c0, c2, c4):
    """d^2u/dx^2 at x."""
    x2 = x * x
    return _x2_d2u_inverse(1.0 / (x2 * x2 * x2), a12, a6) / x2 + 2.0 * c2 + 12.0 * c4 * x2


def smoothing_coefficients_lj(x_c: float) -> tuple[float, float, float]:
    """C0, C2, C4 of the KA2 smoothing (Mocanu et al. (2023) Eq. 2): V, V', V'' vanish at x_c."""
    return (
        10.0 / x_c**6 - 28.0 / x_c**12,
        48.0 / x_c**14 - 15.0 / x_c**8,
        6.0 / x_c**10 - 21.0 / x_c**16,
    )


def smoothing_coefficients_soft(x_c: float) -> tuple[float, float, float]:
    """c0, c2, c4 of the PSS r^-12 potential (Ninarello et al. 2017) at cutoff x_c."""
    return (-28.0 / x_c**12, 48.0 / x_c**14, -21.0 / x_c**16)


@dataclass(frozen=True)
class PairForm:
    """The coefficients of u(x) for x < x_c, and its evaluators (x = r / sigma)."""

    a12: float
    a6: float
    c0: float
    c2: float
    c4: float
    x_c: float

    @classmethod
    def lennard_jones(cls, x_c: float) -> "PairForm":
        """KA2: 4 (x^-12 - x^-6) smoothed at x_c."""
        c0, c2, c4 = smoothing_coefficients_lj(x_c)
        return cls(4.0, 4.0, 4.0 * c0, 4.0 * c2, 4.0 * c4, x_c)

    @classmethod
    def soft_sphere(cls, x_c: float) -> "PairForm":
        """PSS: x^-12 smoothed at x_c."""
        c0, c2, c4 = smoothing_coefficients_soft(x_c)
        return cls(1.0, 0.0, c0, c2, c4, x_c)

    @property
    def coefficients(self) -> tuple[float, float, float, float, float]:
        """(a12, a6, c0, c2, c4), the trailing arguments of the ``*_x`` and ``*_x2`` functions."""
        return (self.a12, self.a6, self.c0, self.c2, self.c4)

    def u(self, x):
        return energy_x(x, *self.coefficients)

    def du(self, x):
        """du/dx."""
        return slope_x(x, *self.coefficients)

    def d2u(self, x):
        """d^2u/dx^2."""
        return curvature_x(x, *self.coefficients)

    def lepton(self, s: str, eps: str = "1.0") -> str:
        """u as a Lepton expression in r, with sigma ``s`` and prefactor ``eps`` (built from :data:`TERMS`)."""
        out = ""
        for sign, name, power in TERMS:
            c = repr(float(getattr(self, name)))
            term = f"{c}*({s}/r)^{-power}" if power < 0 else f"{c}*(r/{s})^{power}" if power > 0 else c
            out += term if not out and sign == "+" else sign + term
        return f"{eps}*({out})"
