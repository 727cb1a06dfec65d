"""atom: amortized text-to-mesh training (AToM, arXiv 2402.00867) on a pure-PyTorch geometry stack.

Rooms (see README "Layout"): ``text`` -> ``prompts`` -> ``model`` -> ``geometry``/``render`` ->
``guidance`` -> ``toyworld`` -> ``training``; entry points ``atom.train``, ``atom.infer``, ``atom.evaluate``.
"""

__version__ = "0.1.0"
