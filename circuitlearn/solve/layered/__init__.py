"""Layered (DRN) networks: exact block coordinate descent (:mod:`.network`) and its kernels."""
