"""Linear algebra of the solvers: Krylov kernels, the batched sparse LDL^T, the KKT solve, dense small circuits."""
