"""Numba kernels of the jet-image recipe.

body.py    the per-jet body, written once as plain Python (no allocation)
fastmath.py  float64 asinh / atan2 for the CPU that LLVM can vectorise
cpu.py     the body compiled with ``numba.njit`` and the loops over jets
cuda.py    the same body compiled with ``numba.cuda.jit(device=True)``
"""
