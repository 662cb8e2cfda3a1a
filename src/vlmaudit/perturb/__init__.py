"""Image transforms and caption perturbations."""
