"""The two shared section formulas (core/section_formulas.py) on hand-computed cases."""
import numpy as np

from kaizenlap.core.section_formulas import best_k, beyond_overall


def test_best_k_is_the_median_of_the_k_fastest():
    a = np.array([[30.0, 40.0], [31.0, 39.0], [29.5, 41.0], [33.0, 38.5], [30.5, 45.0]])
    assert best_k(a, 3).tolist() == [30.0, 39.0]          # {29.5, 30, 30.5} and {38.5, 39, 40}
    assert best_k(a, 2).tolist() == [29.75, 38.75]        # the mean of the two
    rng = np.random.default_rng(1)
    b = rng.normal(60, 1, (50, 12, 6))
    assert np.allclose(best_k(b, 4), np.median(np.sort(b, axis=-2)[..., :4, :], axis=-2), rtol=0, atol=1e-12)


def test_beyond_overall_shares_the_whole_lap_deviation_by_typical_time():
    F = np.array([20.0, 30.0, 50.0])
    dev = np.array([0.3, 0.3, 0.4])                        # 1.0 s over the lap: 0.2 / 0.3 / 0.5 of it expected
    assert np.allclose(beyond_overall(dev, F), [0.1, 0.0, -0.1])
    assert abs(beyond_overall(dev, F).sum()) < 1e-12       # the parts of a whole-lap deficit add up to zero
    assert np.allclose(beyond_overall(np.ones((4, 3)) * F / 100, F), 0)   # a car slow in proportion: nothing


def test_median_is_numpys_bit_for_bit():
    """The sort-based median the coaching's bootstraps use gives numpy's median exactly (odd and even counts,
    2-D and 3-D, keepdims), so documents are unchanged by it; hand case: (1, 3, 2, 10) -> 2.5."""
    import numpy as np

    from kaizenlap.core.section_formulas import median
    assert median(np.array([[1.0, 3.0, 2.0, 10.0]]), axis=1).tolist() == [2.5]
    r = np.random.default_rng(3)
    for n in range(1, 26):
        for shape, axis in (((200, n), 1), ((50, n, 6), -2), ((n, 6), -2)):
            a = np.round(r.normal(20, 0.3, shape), 3)
            for keep in (False, True):
                assert np.array_equal(median(a, axis=axis, keepdims=keep), np.median(a, axis=axis, keepdims=keep))
