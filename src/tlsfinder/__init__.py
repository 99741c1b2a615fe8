"""tlsfinder: find tunneling two-level systems (TLS) in simulated glasses.

Reduced Lennard-Jones units throughout (energy eps, length sigma, mass m,
time sigma sqrt(m/eps), k_B = 1) unless a function says otherwise.
"""

__version__ = "0.1.0"


class TLSFinderError(Exception):
    """An error a user can act on: the message names the file, key or value at fault."""
