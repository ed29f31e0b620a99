"""Temporal normalisation (TIM and linear) on synthetic clips."""
import numpy as np
import pytest

from atnet.baselines import tim
from atnet.common import InputError


def ramp_clip(n_frames, start=10.0, step=3.0, shape=(4, 5)):
    """A clip whose every pixel rises linearly over time (pixel offsets differ)."""
    offsets = np.arange(np.prod(shape), dtype=float).reshape(shape)
    return np.stack([start + step * t + offsets for t in range(n_frames)])


@pytest.mark.parametrize("method", tim.INTERPOLATIONS)
@pytest.mark.parametrize("n_in,n_out", [(65, 10), (65, 64), (23, 64), (7, 10), (2, 10), (120, 64)])
def test_returns_exactly_the_requested_frames(method, n_in, n_out):
    out = tim.temporal_normalise(ramp_clip(n_in), n_out, method)
    assert out.shape == (n_out, 4, 5)


@pytest.mark.parametrize("n_in,n_out", [(65, 10), (65, 64), (23, 64), (7, 10), (40, 13)])
def test_linear_interpolation_reproduces_a_ramp_exactly(n_in, n_out):
    clip = ramp_clip(n_in)
    expected = ramp_clip(n_out, step=3.0 * (n_in - 1) / (n_out - 1))
    np.testing.assert_allclose(tim.temporal_normalise(clip, n_out, "linear"), expected, atol=1e-9)


@pytest.mark.parametrize("n_in,n_out", [(65, 10), (65, 64), (23, 64), (7, 10), (40, 13)])
def test_tim_reproduces_a_ramp(n_in, n_out):
    """TIM is a cosine interpolation: exact at both ends, within 5 % of one input step elsewhere."""
    clip = ramp_clip(n_in)
    expected = ramp_clip(n_out, step=3.0 * (n_in - 1) / (n_out - 1))
    out = tim.temporal_normalise(clip, n_out, "tim")
    np.testing.assert_allclose(out[[0, -1]], clip[[0, -1]], atol=1e-9)
    assert np.abs(out - expected).max() < 0.05 * 3.0


def test_tim_keeps_the_frames_when_the_length_is_unchanged():
    clip = np.random.default_rng(0).integers(0, 256, (12, 6, 6)).astype(np.uint8)
    np.testing.assert_allclose(tim.temporal_normalise(clip, 12, "tim"), clip, atol=1e-9)


def test_tim_matrix_is_the_path_graph_laplacian_embedding():
    """Column sums of 1 (a constant clip stays constant) and the eigen-basis of L = D - W."""
    n = 9
    matrix = tim.interpolation_matrix(n, 30, "tim")
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-12)
    adjacency = np.diag(np.ones(n - 1), 1) + np.diag(np.ones(n - 1), -1)
    laplacian = np.diag(adjacency.sum(axis=1)) - adjacency
    curve = tim._path_graph_curve(n, np.arange(1, n + 1))
    eigenvalues = np.diag(curve.T @ laplacian @ curve)
    np.testing.assert_allclose(curve.T @ laplacian @ curve, np.diag(eigenvalues), atol=1e-12)
    np.testing.assert_allclose(np.sort(eigenvalues), np.linalg.eigvalsh(laplacian)[1:], atol=1e-12)


def test_to_uint8_clips_overshoot():
    assert tim.to_uint8(np.array([-3.2, 0.4, 127.5, 255.7])).tolist() == [0, 0, 128, 255]


@pytest.mark.parametrize("n_frames,apex,half,expected", [
    (100, 50, 32, (18, 83)), (100, 5, 32, (0, 38)), (40, 38, 32, (6, 40)), (40, 20, None, (0, 40))])
def test_apex_window(n_frames, apex, half, expected):
    assert tim.apex_window(n_frames, apex, half) == expected


def test_bad_requests_are_input_errors():
    with pytest.raises(InputError, match="at least 2 frames"):
        tim.temporal_normalise(np.zeros((1, 3, 3)), 10)
    with pytest.raises(InputError, match="unknown interpolation"):
        tim.temporal_normalise(np.zeros((5, 3, 3)), 10, "cubic")
    with pytest.raises(InputError, match="outside"):
        tim.apex_window(10, 12, 32)
