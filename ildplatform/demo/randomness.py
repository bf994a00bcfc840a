"""Seeded random streams and the smooth random fields drawn from them (no Django, no global state).

Every random draw of a phantom comes from its own `numpy.random.SeedSequence` stream keyed by
(seed, stream kind, patient, visit, slice, ...), so a visit looks the same whether it is generated
alone or as part of a bigger set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# One stream id per kind of random draw: adding a draw of one kind never shifts another kind's numbers.
STREAM_PATIENT = 1
STREAM_VISIT = 2
STREAM_FIELDS = 3
STREAM_VESSELS = 4
STREAM_NET = 5
STREAM_NOISE = 6
STREAM_FILES = 7


def rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


def check_seed(seed: int) -> None:
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")


@dataclass(frozen=True)
class FourierField:
    """Sum of random plane waves: a smooth, seamless random field evaluated slice by slice."""

    kx: np.ndarray
    ky: np.ndarray
    kz: np.ndarray
    phase: np.ndarray

    @classmethod
    def draw(
        cls, generator: np.random.Generator, n_modes: int, wavelength_mm: tuple[float, float], dims: int
    ) -> FourierField:
        wavelength = generator.uniform(*wavelength_mm, size=n_modes)
        direction = generator.normal(size=(n_modes, 3))
        if dims == 2:
            direction[:, 2] = 0.0
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        k = direction * (2 * np.pi / wavelength)[:, None]
        return cls(k[:, 0], k[:, 1], k[:, 2], generator.uniform(0, 2 * np.pi, size=n_modes))

    def evaluate(self, xs: np.ndarray, ys: np.ndarray, z: float) -> np.ndarray:
        """Approximately standard-normal field on the grid ys x xs (mm) at height z (mm)."""
        # cos(a + b) = cos a cos b - sin a sin b keeps this to outer products of 1-D vectors.
        ax = np.multiply.outer(self.kx, xs).astype(np.float32)
        by = (np.multiply.outer(self.ky, ys) + (self.kz * z + self.phase)[:, None]).astype(np.float32)
        field = np.einsum("my,mx->yx", np.cos(by), np.cos(ax)) - np.einsum("my,mx->yx", np.sin(by), np.sin(ax))
        return field * np.float32(np.sqrt(2.0 / len(self.kx)))
