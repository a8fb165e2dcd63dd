"""Which device runs the kernels: ``device="auto" | "cpu" | "cuda"``.

``resolve_device`` turns the option into ``"cpu"`` or ``"cuda"``: ``"auto"``
takes CUDA when numba can run kernels on a GPU here (a driver, a GPU and the
CUDA toolkit's NVVM and libdevice), else the CPU; ``"cuda"`` where that is not
so is a :class:`~jetimg.errors.DeviceError` with one line saying why and how to
install the extra. numba.cuda is imported only when CUDA is asked about.

Device arrays are recognised without importing anything: numba device arrays
(the simulator's too) and any object with ``__cuda_array_interface__`` (CuPy,
PyTorch, ...).

>>> resolve_device("cpu")
'cpu'
>>> import numpy as np
>>> is_device_array(np.zeros(3))
False
"""

import functools

import numpy as np

from .errors import DeviceError

__all__ = ["DEVICES", "CUDA_EXTRA", "resolve_device", "cuda_problem", "is_device_array",
           "device_array_info"]

DEVICES = ("auto", "cpu", "cuda")
CUDA_EXTRA = "pip install 'jetimg[cuda]'"


def is_device_array(x):
    """Whether ``x`` is an array in GPU memory.

    True for numba device arrays (``__cuda_ndarray__``, the CUDA simulator's
    included) and anything with ``__cuda_array_interface__`` (CuPy, PyTorch).
    """
    return bool(getattr(x, "__cuda_ndarray__", False)) or hasattr(x, "__cuda_array_interface__")


def device_array_info(x):
    """``(shape, dtype, c_contiguous)`` of a device array, read without copying it.

    Parameters
    ----------
    x : device array
        A numba device array or an object with ``__cuda_array_interface__``.

    Returns
    -------
    shape : tuple of int
    dtype : numpy.dtype
    c_contiguous : bool
    """
    if getattr(x, "__cuda_ndarray__", False):
        return tuple(x.shape), np.dtype(x.dtype), bool(x.is_c_contiguous())
    cai = x.__cuda_array_interface__
    shape, dtype = tuple(cai["shape"]), np.dtype(cai["typestr"])
    strides = cai.get("strides")
    c_strides = tuple(int(np.prod(shape[i + 1:], dtype=np.int64)) * dtype.itemsize
                      for i in range(len(shape)))
    return shape, dtype, strides is None or tuple(strides) == c_strides


@functools.cache
def cuda_problem():
    """Why jetimg's CUDA kernels cannot run here, as one line; None when they can.

    Checks, in order: numba.cuda imports, the CUDA driver loads and sees a GPU,
    NVVM and libdevice (the CUDA toolkit parts numba compiles with) are found.
    numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) needs none of them.
    The answer is cached for the process.
    """
    try:
        from numba import cuda
        from numba.core import config
    except ImportError as err:
        return f"numba.cuda cannot be imported ({err})"
    if config.ENABLE_CUDASIM:
        return None
    if cuda.is_available() and len(cuda.gpus) > 0:
        from numba.cuda.cudadrv import libs

        return None if libs.get_libdevice() else "the CUDA toolkit's libdevice was not found"
    error = cuda.cuda_error()
    if error:  # numba's message, first sentence: "CUDA driver library cannot be found"
        return f"no usable CUDA driver ({' '.join(str(error).split()).split('. ')[0]})"
    from numba.cuda.cudadrv import nvvm

    if not nvvm.is_available():
        return "the CUDA toolkit's NVVM library was not found"
    return "no CUDA GPU was found"


def resolve_device(device="auto"):
    """The device that runs the kernels for the option ``device``.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        ``"auto"`` takes CUDA when it is usable here, else the CPU.

    Returns
    -------
    str
        ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    DeviceError
        ``device`` is not one of the above, or is ``"cuda"`` where CUDA is not
        usable (the message says why and names ``pip install 'jetimg[cuda]'``).

    Examples
    --------
    >>> resolve_device("CPU")
    'cpu'
    """
    name = device.lower() if isinstance(device, str) else device
    if name not in DEVICES:
        raise DeviceError(f"device={device!r} is not valid; choose one of "
                          + ", ".join(repr(d) for d in DEVICES))
    if name == "cpu":
        return "cpu"
    problem = cuda_problem()
    if problem is None:
        return "cuda"
    if name == "auto":
        return "cpu"
    raise DeviceError(f"device='cuda' is not usable here: {problem}. Install the CUDA extra "
                      f"with {CUDA_EXTRA} on a machine with an NVIDIA GPU and driver, "
                      "or use device='cpu'")
