"""The offline toy world: analytic shapes with ground truth, the bundled diffusion prior, 3D metrics."""
