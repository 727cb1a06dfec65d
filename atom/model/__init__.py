"""Text-to-triplane network, triplane sampling, SDF/deformation/colour heads and the generator."""
