"""The model and its maths: priors, the generative model, the energy, the proxes, inference
(FISTA) and the convex-case certificates (λ_max, duality gap). Backend-agnostic."""
